"""``manage.py api_key create NAME`` prints a new key for NAME (replacing
NAME's old key); ``manage.py api_key revoke NAME`` deletes it."""

from django.core.management.base import BaseCommand, CommandError

from apikeys.models import ApiKey


class Command(BaseCommand):
    help = "Create (print once) or revoke an API key for the X-API-Key header."

    def add_arguments(self, parser) -> None:
        parser.add_argument("action", choices=["create", "revoke"])
        parser.add_argument("name", help="who holds the key, e.g. billing-worker")

    def handle(self, *args, action: str, name: str, **options) -> None:
        if action == "create":
            _, key = ApiKey.objects.issue(name)
            # The only place the key ever appears: stdout, alone, for scripts.
            self.stdout.write(key)
            return
        deleted, _ = ApiKey.objects.filter(name=name).delete()
        if not deleted:
            raise CommandError(f"no API key named {name!r}")

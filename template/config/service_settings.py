"""This service's own Django settings: DJANGO_SETTINGS_MODULE names this module.

It starts from the template's settings (config/settings.py, which `copier
update` maintains) and is yours: updates never change this file, so nothing
you write here can conflict with one. Add apps and middleware, override any
value, read more variables with ``env``. For example:

    INSTALLED_APPS = [*INSTALLED_APPS, "billing"]
    INVOICE_PREFIX = env.str("INVOICE_PREFIX", default="INV")
"""

from config.settings import *  # noqa: F403

"""The client's address behind the reverse proxy.

Trust follows gunicorn's, from the same setting: only a request whose peer
is one of the addresses in FORWARDED_ALLOW_IPS (the proxy's; none by
default) has its REMOTE_ADDR replaced, and then by the last X-Forwarded-For
entry, the address that connected to the proxy. A client reaching the app directly changes nothing.
"""

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def trusted_networks(value: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The addresses and networks of a comma-separated list such as
    FORWARDED_ALLOW_IPS, read as gunicorn reads it (``*``: every address,
    for platforms whose proxy has no fixed address and is the only way in).

    Raises ``ValueError`` for an entry that is not an address or network.
    """
    networks = []
    for entry in filter(None, (part.strip() for part in value.split(","))):
        if entry == "*":
            networks += [ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")]
        else:
            networks.append(ipaddress.ip_network(entry, strict=False))
    return networks


class ForwardedForMiddleware:
    """Put the client's address in REMOTE_ADDR for requests from the proxy.

    Gunicorn's access log and everything in Django (admin log entries, rate
    limits) then see the client, not the proxy. Reads settings.FORWARDED_ALLOW_IPS once.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.trusted = trusted_networks(settings.FORWARDED_ALLOW_IPS)

    def __call__(self, request: HttpRequest):
        if self.trusted and self.from_proxy(request.META.get("REMOTE_ADDR", "")):
            forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
            client = forwarded.rsplit(",", 1)[-1].strip()
            if client:
                request.META["REMOTE_ADDR"] = client
        return self.get_response(request)

    def from_proxy(self, peer: str) -> bool:
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self.trusted)

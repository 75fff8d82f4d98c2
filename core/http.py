"""Facts about an HTTP request that depend on how the platform is deployed: the client's address."""

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def _ip(value: str) -> str | None:
    """``value`` as a normalised IP address string, or ``None`` when it is not one."""
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_address(request: HttpRequest) -> str:
    """The address of the client that sent ``request``, as far as this deployment can trust it.

    With ``TRUSTED_PROXY_COUNT`` at 0 the platform faces clients directly, so it is
    ``REMOTE_ADDR``. Behind N proxies each one appends the address it received the
    request from to ``X-Forwarded-For``, so the N-th entry from the right is what the
    outermost proxy saw: the client. Entries further left were sent by the client and
    are ignored. A header too short or not an address there (the request did not pass
    through every proxy, or one is misconfigured) falls back to ``REMOTE_ADDR``.
    Returns ``""`` when not even ``REMOTE_ADDR`` is known.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    count = settings.TRUSTED_PROXY_COUNT
    if count <= 0:
        return remote
    # Several X-Forwarded-For header lines reach Django joined by commas, in order.
    entries = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
    if len(entries) < count:
        return remote
    return _ip(entries[-count]) or remote

"""One WSGI entry point, two Django handlers: API-key calls skip the middleware only browsers need.

A request to ``/api/`` with ``Authorization: Api-Key …`` is authenticated by its
key alone (tenants.authentication: the key wins or the request gets a 401). It
has no session, no signed-in person, no CSRF cookie, no portal tenant and no
flash messages, and asks for no static file, yet the middleware for those ran
on every call (under the profiler, some 330 µs a call: about 15 % of what is
left of one once its Redis round trip is gone; docs/benchmarks.md, "Serving").
So those requests go through a second handler built from ``MIDDLEWARE`` less
``BROWSER_ONLY_MIDDLEWARE``: the security headers, host checks and any
middleware added later still apply. Every other request, API calls made from a
signed-in session included, takes the full chain as before.
"""

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler

API_KEY_PREFIX = "Api-Key "


def is_api_key_call(environ):
    """True for a request to the API that authenticates with an API key."""
    return environ.get("PATH_INFO", "").startswith("/api/") and environ.get("HTTP_AUTHORIZATION", "").startswith(
        API_KEY_PREFIX
    )


class ApiKeyHandler(WSGIHandler):
    """Django's WSGI handler with ``MIDDLEWARE`` less ``BROWSER_ONLY_MIDDLEWARE``."""

    def load_middleware(self, is_async=False):
        # Django builds the chain from settings.MIDDLEWARE only; swap it for the build (once, at start-up).
        full = settings.MIDDLEWARE
        settings.MIDDLEWARE = [path for path in full if path not in settings.BROWSER_ONLY_MIDDLEWARE]
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full


class SplitApplication:
    """The WSGI application: API-key calls to the lean handler, everything else to Django's usual one."""

    def __init__(self):
        self.full = WSGIHandler()
        self.api_key = ApiKeyHandler()

    def __call__(self, environ, start_response):
        handler = self.api_key if is_api_key_call(environ) else self.full
        return handler(environ, start_response)

"""A bare Django REST framework application: the reference that bench/serve.py measures the platform against.

One DRF view answering a small JSON object, and no project code: Django and DRF
as installed in the same virtual environment, ``DEBUG`` off, no middleware, no
database, no authentication, permission or throttle classes. ``bench/serve.py``
serves it with the same gunicorn settings as the platform
(``gunicorn bench.bare_drf:application``), so the ratio of the two is the share
of a request the platform spends on its own work (keys, limits, metering,
tenancy, models).
"""

import django
from django.conf import settings
from django.urls import path

settings.configure(
    DEBUG=False,
    SECRET_KEY="bench-only-bare-drf-" + "s" * 50,
    ALLOWED_HOSTS=["127.0.0.1"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "rest_framework"],
    MIDDLEWARE=[],
    DATABASES={},
    USE_TZ=True,
    REST_FRAMEWORK={
        "DEFAULT_AUTHENTICATION_CLASSES": [],
        "DEFAULT_PERMISSION_CLASSES": [],
        "DEFAULT_THROTTLE_CLASSES": [],
        "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
        "UNAUTHENTICATED_USER": None,
    },
)
django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402 - after settings.configure
from rest_framework.response import Response  # noqa: E402
from rest_framework.views import APIView  # noqa: E402


class Hello(APIView):
    """A small JSON object, about the size of the platform's ``GET /api/v1/tenant``."""

    def get(self, request):
        return Response({"name": "bare", "slug": "bare", "status": "active", "scopes": ["recommend"], "id": 1})


urlpatterns = [path("hello", Hello.as_view())]
application = get_wsgi_application()

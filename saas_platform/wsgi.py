"""WSGI entry point, served by gunicorn in production."""

import gc
import os

import django
from django.urls import get_resolver

from .handlers import SplitApplication

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "saas_platform.settings")
django.setup(set_prefix=False)
# API-key calls skip the middleware only browsers need (see saas_platform.handlers).
application = SplitApplication()


def _freeze_what_is_loaded():
    """Import every view, then hide all loaded objects from the cyclic garbage collector.

    A full collection walks every tracked object: some 110,000 once Django, DRF
    and the views are loaded, about 50 ms on one core, and the request that
    happens to trigger it waits that long. Modules, settings and URL patterns
    live as long as the process, so the collector has nothing to find in them.
    """
    get_resolver().url_patterns  # noqa: B018 - importing the URL conf imports every view module
    gc.collect()
    gc.freeze()


_freeze_what_is_loaded()

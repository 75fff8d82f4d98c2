"""Project-level views: the health check used by load balancers and docker-compose, and the error
pages of requests no view answered (the API's one error shape under ``/api/``, the portal's pages elsewhere)."""

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.db import connection
from django.http import JsonResponse
from django.views import defaults

from tenants.api.errors import error_body


def health(request):
    """Answer 200 when the database answers, 503 otherwise."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # any database failure means "not healthy"; the reason is logged by Django
        return JsonResponse({"status": "unavailable", "database": "down"}, status=503)
    return JsonResponse({"status": "ok"})


def _is_api(request):
    return request.path.startswith("/api/")


def not_found(request, exception):
    """404 for a URL no route matches (e.g. a model slug with characters a slug cannot hold)."""
    if _is_api(request):
        return JsonResponse(error_body("not_found", "No such endpoint or object."), status=404)
    return defaults.page_not_found(request, exception)


# Django's refusals of a request body before any view parses it: their messages name the limit and are safe to show.
_BODY_REFUSALS = (RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent)


def bad_request(request, exception):
    """400 for a request Django refused before DRF ran (too many fields, too large a body, a bad host...)."""
    if _is_api(request):
        if isinstance(exception, _BODY_REFUSALS):
            message = f"The request body was refused: {exception}"
        else:
            message = "The request is malformed."
        return JsonResponse(error_body("bad_request", message), status=400)
    return defaults.bad_request(request, exception)


def server_error(request):
    """500 outside DRF's handling: API clients still get the error shape, never an HTML page."""
    if _is_api(request):
        message = "The server failed to answer; the operators have been told. Retry later."
        return JsonResponse(error_body("server_error", message), status=500)
    return defaults.server_error(request)

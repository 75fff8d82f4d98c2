"""DRF authentication by tenant API key: ``Authorization: Api-Key <key>``."""

from django.utils import timezone
from rest_framework import authentication, exceptions

from .selectors import find_api_key
from .services import touch_api_key

KEYWORD = "Api-Key"


class ApiKeyUser:
    """The principal of a request made with an API key (not a person)."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    def __init__(self, api_key):
        self.api_key = api_key
        self.username = f"api-key:{api_key.prefix}"

    def __str__(self):
        return self.username


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """Resolves an API key to its tenant; bad keys get 401 with a reason."""

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        keyword, _, raw_key = header.partition(" ")
        if keyword != KEYWORD:
            return None
        raw_key = raw_key.strip()
        if not raw_key:
            raise exceptions.AuthenticationFailed("The Api-Key header has no key.", code="malformed_api_key")
        api_key = find_api_key(raw_key)
        if api_key is None:
            raise exceptions.AuthenticationFailed("This API key is not valid.", code="invalid_api_key")
        if api_key.is_revoked:
            raise exceptions.AuthenticationFailed("This API key has been revoked.", code="revoked_api_key")
        now = timezone.now()
        if api_key.is_expired(now):
            raise exceptions.AuthenticationFailed("This API key has expired.", code="expired_api_key")
        touch_api_key(api_key, now)
        return ApiKeyUser(api_key), api_key

    def authenticate_header(self, request):
        # Makes DRF answer 401 (not 403) when credentials are missing.
        return KEYWORD

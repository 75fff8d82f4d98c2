"""API views for the caller's tenant, its API keys and its usage."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.response import Response

from ..audit import Actor
from ..models import ApiKey, Role
from ..quotas import quota_use
from ..scoping import TenantAPIView, TenantScopedViewSet
from ..services import issue_api_key, revoke_api_key
from ..usage import usage_of
from .serializers import (
    ApiKeyCreateSerializer,
    ApiKeySerializer,
    IssuedApiKeySerializer,
    PlanSerializer,
    TenantSerializer,
    UsageSerializer,
    WhoAmISerializer,
)


def _tenant_data(tenant):
    """``TenantSerializer(tenant).data``, built once per loaded tenant object.

    Building a ModelSerializer's fields took most of this endpoint's time
    (docs/benchmarks.md, "Serving"). API-key calls share the tenant object of
    the cached key, which is read again every LOCAL_CACHE_SECONDS, so the
    answer is never older than the key's own facts.
    """
    data = getattr(tenant, "_serialized", None)
    if data is None:
        data = tenant._serialized = TenantSerializer(tenant).data
    return data


class WhoAmIView(TenantAPIView):
    """Who is calling: the tenant, and the API key or person making the call."""

    required_scope = None

    @extend_schema(responses=WhoAmISerializer, summary="Who am I")
    def get(self, request):
        api_key = request.auth if isinstance(request.auth, ApiKey) else None
        return Response(
            {
                "tenant": _tenant_data(self.tenant),
                "api_key": {"id": api_key.pk, "name": api_key.name, "prefix": api_key.prefix, "scopes": api_key.scopes}
                if api_key
                else None,
                "user": {"username": request.user.username, "role": request.membership.role}
                if api_key is None
                else None,
            }
        )


class ApiKeyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """The tenant's API keys. Creating one shows the full key once; deleting revokes it."""

    model = ApiKey
    serializer_class = ApiKeySerializer
    required_role = Role.ADMIN

    def scoped_queryset(self):
        return ApiKey.objects.select_related("created_by").order_by("-created_at")

    @extend_schema(request=ApiKeyCreateSerializer, responses={201: IssuedApiKeySerializer}, summary="Create an API key")
    def create(self, request):
        serializer = ApiKeyCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        issued = issue_api_key(actor=Actor.from_request(request), **serializer.validated_data)
        data = ApiKeySerializer(issued.api_key).data
        return Response({"key": issued.full_key, **data}, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None}, summary="Revoke an API key")
    def destroy(self, request, pk=None):
        revoke_api_key(actor=Actor.from_request(request), api_key=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class UsageView(TenantAPIView):
    """Requests by day and endpoint over the last 30 days, beside the plan's quotas."""

    @extend_schema(responses=UsageSerializer, summary="Usage and quotas")
    def get(self, request):
        return Response(
            {**usage_of(self.tenant), "plan": PlanSerializer(self.tenant.plan).data, "quotas": quota_use(self.tenant)}
        )

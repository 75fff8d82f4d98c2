"""Serializers for the tenants API."""

from rest_framework import serializers

from ..models import ApiKey, ApiKeyScope, Plan, Tenant
from ..quotas import limits_of


class PlanSerializer(serializers.ModelSerializer):
    limits = serializers.SerializerMethodField(
        help_text="Every limit the tenant works within, the plan's and the platform's: name → {label, limit}."
    )

    class Meta:
        model = Plan
        fields = [
            "name",
            "max_rows",
            "max_models",
            "max_training_runs_per_day",
            "max_concurrent_trainings",
            "api_requests_per_minute",
            "max_upload_bytes",
            "limits",
        ]

    def get_limits(self, plan) -> dict:
        return limits_of(plan)


class TenantSerializer(serializers.ModelSerializer):
    plan = PlanSerializer()

    class Meta:
        model = Tenant
        fields = ["name", "slug", "status", "plan", "created_at"]


class WhoAmISerializer(serializers.Serializer):
    tenant = TenantSerializer()
    api_key = serializers.DictField(
        allow_null=True, help_text="The key's id, name, prefix and scopes; null for a signed-in person."
    )
    user = serializers.DictField(allow_null=True, help_text="The signed-in person and role; null for an API key.")


class ApiKeySerializer(serializers.ModelSerializer):
    """An API key as listed: never the key itself, only its prefix."""

    created_by = serializers.StringRelatedField(allow_null=True)
    is_active = serializers.SerializerMethodField()

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "prefix",
            "scopes",
            "expires_at",
            "revoked_at",
            "last_used_at",
            "created_by",
            "created_at",
            "is_active",
        ]
        read_only_fields = fields

    def get_is_active(self, api_key) -> bool:
        return not api_key.is_revoked and not api_key.is_expired()


class ApiKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=ApiKeyScope.choices),
        min_length=1,
        help_text="Any of recommend, ingest, manage.",
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


class IssuedApiKeySerializer(ApiKeySerializer):
    """The answer to creating a key: the only time the full key is shown."""

    key = serializers.CharField(help_text="The full key. It is shown only once: store it now.")

    class Meta(ApiKeySerializer.Meta):
        fields = ["key", *ApiKeySerializer.Meta.fields]
        read_only_fields = fields


class UsageSerializer(serializers.Serializer):
    days = serializers.ListField(child=serializers.DictField(), help_text="[{day, requests}] for the last 30 days.")
    endpoints = serializers.DictField(child=serializers.IntegerField(), help_text="Requests per endpoint.")
    total = serializers.IntegerField()
    plan = PlanSerializer()
    quotas = serializers.DictField(help_text="For each quota: used and limit.")

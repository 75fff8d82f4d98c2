"""Portal URLs of organisations and access; ``portal.urls`` mounts them in the ``portal`` namespace."""

from django.urls import path

from .views import access, account

urlpatterns = [
    path("organisations/new/", account.tenant_create, name="tenant_create"),
    path("organisations/switch/", account.switch_tenant, name="switch_tenant"),
    path("settings/", access.tenant_settings, name="tenant_settings"),
    path("settings/delete/", access.tenant_delete, name="tenant_delete"),
    path("api-keys/", access.api_keys, name="api_keys"),
    path("api-keys/<int:pk>/revoke/", access.api_key_revoke, name="api_key_revoke"),
    path("members/", access.members, name="members"),
    path("members/invite/", access.member_invite, name="member_invite"),
    path("members/<int:pk>/role/", access.member_role, name="member_role"),
    path("members/<int:pk>/remove/", access.member_remove, name="member_remove"),
    path("members/invitations/<int:pk>/revoke/", access.invitation_revoke, name="invitation_revoke"),
    path("usage/", access.usage, name="usage"),
    path("audit-log/", access.audit_log, name="audit_log"),
]

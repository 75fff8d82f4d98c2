"""Stored invitations: the pending list on the Members page, revoking, accepting, sending again, old links."""

import importlib
import re

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core import mail, signing
from django.test import Client
from django.urls import reverse

from tenants import audit
from tenants.accounts import services as portal_services
from tenants.models import AuditLog, Invitation, Membership, Role

from ..factories import add_member, make_user
from .conftest import signed_in

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-enough-passphrase-42"
SIGN_UP = {"username": "newbie", "password1": PASSWORD, "password2": PASSWORD}


@pytest.fixture
def owner_client(tenant_a):
    return signed_in(tenant_a.owner, tenant_a.tenant)


def _invite(client, email="new@example.com", role=Role.ANALYST):
    """Invite through the Members page; return the link in the email sent and the page shown after."""
    response = client.post(reverse("portal:member_invite"), {"email": email, "role": role}, follow=True)
    assert response.status_code == 200
    return re.search(r"https?://[^/\s]+(/\S+)", mail.outbox[-1].body).group(1), response.content.decode()


def _members_page(client):
    return client.get(reverse("portal:members")).content.decode()


def _revoke(client, invitation):
    return client.post(reverse("portal:invitation_revoke", args=[invitation.pk]), follow=True)


def test_the_members_page_lists_pending_invitations(tenant_a, owner_client):
    _invite(owner_client, email="New@Example.com", role=Role.ANALYST)
    invitation = Invitation.objects.get(tenant=tenant_a.tenant)
    page = _members_page(owner_client)
    assert "Pending invitations" in page
    assert "new@example.com" in page
    assert tenant_a.owner.username in page
    assert invitation.expires_at.strftime("%Y-%m-%d") in page
    assert reverse("portal:invitation_revoke", args=[invitation.pk]) in page
    assert 'data-confirm="Revoke the invitation to new@example.com?' in page

    viewer = signed_in(add_member(tenant_a.tenant, role=Role.VIEWER), tenant_a.tenant)
    seen_by_viewer = _members_page(viewer)
    assert "new@example.com" in seen_by_viewer
    assert reverse("portal:invitation_revoke", args=[invitation.pk]) not in seen_by_viewer


def test_expired_invitations_are_not_listed(tenant_a, owner_client, monkeypatch):
    monkeypatch.setattr(portal_services, "INVITATION_MAX_AGE", -1)
    _invite(owner_client)
    assert "new@example.com" not in _members_page(owner_client)


def test_revoking_refuses_the_link_with_a_clear_message_and_is_audited(tenant_a, owner_client):
    link, _ = _invite(owner_client)
    invitation = Invitation.objects.get(tenant=tenant_a.tenant)
    opened = Client()
    assert opened.get(link).status_code == 200

    response = _revoke(owner_client, invitation)
    assert "Revoked the invitation to new@example.com" in response.content.decode()
    assert "new@example.com" not in _members_page(owner_client)
    invitation.refresh_from_db()
    assert invitation.state == Invitation.State.REVOKED

    refused = Client().get(link)
    assert refused.status_code == 400
    assert "Tenant A withdrew this invitation" in refused.content.decode()
    # A page opened before the revocation cannot accept it either.
    opened.post(link, SIGN_UP)
    assert not get_user_model().objects.filter(username="newbie").exists()

    entry = AuditLog.objects.get(tenant=tenant_a.tenant, action="member.invitation_revoked")
    assert entry.actor_user == tenant_a.owner
    assert entry.details == {"email": "new@example.com", "role": Role.ANALYST}


def test_accepting_marks_the_invitation_accepted_and_it_leaves_the_list(tenant_a, owner_client):
    link, _ = _invite(owner_client)
    Client().post(link, SIGN_UP)
    invitation = Invitation.objects.get(tenant=tenant_a.tenant)
    assert invitation.state == Invitation.State.ACCEPTED
    assert invitation.accepted_by.username == "newbie"
    assert Membership.objects.get(tenant=tenant_a.tenant, user__username="newbie").role == Role.ANALYST
    assert "new@example.com" not in _members_page(owner_client).split("Pending invitations")[1]

    response = _revoke(owner_client, invitation)
    assert "has already accepted this invitation" in response.content.decode()
    assert Membership.objects.filter(tenant=tenant_a.tenant, user__username="newbie").exists()


@pytest.mark.parametrize("role", [Role.VIEWER, Role.ANALYST])
def test_viewers_and_analysts_cannot_revoke(tenant_a, owner_client, client_as, role):
    link, _ = _invite(owner_client)
    invitation = Invitation.objects.get(tenant=tenant_a.tenant)
    assert client_as(role).post(reverse("portal:invitation_revoke", args=[invitation.pk])).status_code == 403
    invitation.refresh_from_db()
    assert invitation.state == Invitation.State.PENDING
    assert Client().get(link).status_code == 200


def test_admins_revoke_but_only_owners_revoke_an_invitation_to_the_owner_role(tenant_a, owner_client):
    _invite(owner_client, email="boss@example.com", role=Role.OWNER)
    _invite(owner_client, email="helper@example.com", role=Role.VIEWER)
    admin = signed_in(add_member(tenant_a.tenant, role=Role.ADMIN), tenant_a.tenant)
    to_owner = Invitation.objects.unscoped().get(email="boss@example.com")
    to_viewer = Invitation.objects.unscoped().get(email="helper@example.com")

    assert "Only an owner" in _revoke(admin, to_owner).content.decode()
    _revoke(admin, to_viewer)
    to_owner.refresh_from_db()
    to_viewer.refresh_from_db()
    assert (to_owner.state, to_viewer.state) == (Invitation.State.PENDING, Invitation.State.REVOKED)


def test_another_tenants_invitation_is_not_found(tenant_a, tenant_b, owner_client):
    link, _ = _invite(owner_client)
    invitation = Invitation.objects.get(tenant=tenant_a.tenant)
    b_owner = signed_in(tenant_b.owner, tenant_b.tenant)
    assert b_owner.post(reverse("portal:invitation_revoke", args=[invitation.pk])).status_code == 404
    assert "new@example.com" not in _members_page(b_owner)
    invitation.refresh_from_db()
    assert invitation.state == Invitation.State.PENDING
    assert not AuditLog.objects.unscoped().filter(action="member.invitation_revoked").exists()
    assert Client().get(link).status_code == 200


def test_inviting_a_pending_address_again_sends_a_new_link_and_the_old_one_stops_working(tenant_a, owner_client):
    first, _ = _invite(owner_client, role=Role.VIEWER)
    second, page = _invite(owner_client, email="NEW@example.com", role=Role.ANALYST)
    assert "Invitation sent again to NEW@example.com: the earlier link no longer works." in page
    assert len(mail.outbox) == 2
    invitation = Invitation.objects.get(tenant=tenant_a.tenant)
    assert (invitation.email, invitation.role, invitation.state) == ("new@example.com", Role.ANALYST, "pending")
    assert _members_page(owner_client).count("<td>new@example.com</td>") == 1

    old = Client().get(first)
    assert old.status_code == 400
    assert "A newer invitation was sent to this address" in old.content.decode()
    Client().post(second, SIGN_UP)
    assert Membership.objects.get(tenant=tenant_a.tenant, user__username="newbie").role == Role.ANALYST
    assert AuditLog.objects.filter(tenant=tenant_a.tenant, action="member.invitation_resent").count() == 1


def test_a_revoked_address_can_be_invited_afresh(tenant_a, owner_client):
    first, _ = _invite(owner_client)
    _revoke(owner_client, Invitation.objects.get(tenant=tenant_a.tenant))
    second, page = _invite(owner_client)
    assert "Invitation sent to new@example.com." in page
    assert "withdrew" in Client().get(first).content.decode()
    assert Client().get(second).status_code == 200
    states = sorted(Invitation.objects.filter(tenant=tenant_a.tenant).values_list("state", flat=True))
    assert states == ["pending", "revoked"]


def _legacy_link(tenant, email, role):
    """A link as invitations were sent before they were stored: a token naming tenant, address and role."""
    token = signing.dumps({"tenant": tenant.pk, "email": email, "role": role}, salt=portal_services.INVITATION_SALT)
    actor = audit.Actor(tenant=tenant, user=tenant.memberships.get(role=Role.OWNER).user)
    audit.record(actor, "member.invited", tenant, email=email, role=role)
    return reverse("accept_invitation", kwargs={"token": token})


def _record_open_invitations():
    """What the migration that introduced stored invitations does with the links sent before it."""
    migration = importlib.import_module("tenants.migrations.0003_invitation")
    migration.record_open_invitations(apps, None)


def test_links_sent_before_invitations_were_stored_keep_working(tenant_a, owner_client):
    link = _legacy_link(tenant_a.tenant, "old@example.com", Role.VIEWER)
    _record_open_invitations()
    assert "old@example.com" in _members_page(owner_client)

    Client().post(link, SIGN_UP)
    assert Membership.objects.get(tenant=tenant_a.tenant, user__username="newbie").role == Role.VIEWER
    assert Invitation.objects.get(tenant=tenant_a.tenant).state == Invitation.State.ACCEPTED
    assert "already been used" in Client().get(link).content.decode()


def test_links_sent_before_invitations_were_stored_can_be_revoked_or_replaced(tenant_a, owner_client):
    revoked = _legacy_link(tenant_a.tenant, "old@example.com", Role.VIEWER)
    replaced = _legacy_link(tenant_a.tenant, "older@example.com", Role.VIEWER)
    _record_open_invitations()
    _revoke(owner_client, Invitation.objects.unscoped().get(email="old@example.com"))
    _invite(owner_client, email="older@example.com")
    assert "Tenant A withdrew this invitation" in Client().get(revoked).content.decode()
    assert "A newer invitation was sent" in Client().get(replaced).content.decode()


def test_operators_see_invitations_in_the_admin_read_only(client, tenant_a, owner_client):
    _invite(owner_client)
    invitation = Invitation.objects.get(tenant=tenant_a.tenant)
    client.force_login(get_user_model().objects.create_superuser("operator", "op@example.com", "operator-pass-1"))
    listing = client.get(reverse("admin:tenants_invitation_changelist"), {"state": "pending"}).content.decode()
    assert "new@example.com" in listing and "Tenant A" in listing
    page = client.get(reverse("admin:tenants_invitation_change", args=[invitation.pk]))
    assert page.status_code == 200
    assert invitation.key not in page.content.decode()
    assert client.post(reverse("admin:tenants_invitation_delete", args=[invitation.pk])).status_code == 403


def test_an_existing_member_is_not_invited(tenant_a, owner_client):
    member = make_user()
    add_member(tenant_a.tenant, member)
    response = owner_client.post(
        reverse("portal:member_invite"), {"email": member.email, "role": "viewer"}, follow=True
    )
    assert "is already a member" in response.content.decode()
    assert not Invitation.objects.filter(tenant=tenant_a.tenant).exists()
    assert mail.outbox == []

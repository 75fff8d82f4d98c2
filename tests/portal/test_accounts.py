"""Sign-up, sign-in with throttling, sign-out, password reset, invitations and switching organisations."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from tenants.accounts import services as portal_services
from tenants.accounts import throttling
from tenants.middleware import SESSION_KEY
from tenants.models import Membership, Role

from ..factories import add_member, make_user
from .conftest import signed_in

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-enough-passphrase-42"


def _link_in(message):
    return re.search(r"https?://[^/\s]+(/\S+)", message.body).group(1)


def test_sign_up_creates_the_person_and_an_organisation_they_own(client):
    response = client.post(
        reverse("signup"),
        {
            "username": "ana",
            "email": "ana@example.com",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "organisation": "Ana's Shop",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:dashboard")
    membership = Membership.objects.unscoped().get(user__username="ana")
    assert membership.role == Role.OWNER
    assert membership.tenant.name == "Ana's Shop"
    dashboard = client.get(reverse("portal:dashboard"))
    assert dashboard.status_code == 200
    assert "Ana&#x27;s Shop" in dashboard.content.decode()


def test_sign_up_refuses_weak_passwords_and_taken_usernames(client):
    make_user("taken")
    response = client.post(
        reverse("signup"),
        {"username": "taken", "email": "t@example.com", "password1": "123", "password2": "123", "organisation": "X"},
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "username" in errors
    assert "password2" in errors
    assert not Membership.objects.unscoped().filter(tenant__name="X").exists()


def test_sign_in_locks_after_five_failures_for_that_username(tenant_a):
    cache.clear()
    client = Client()
    username = tenant_a.owner.username
    for _ in range(throttling.MAX_FAILURES):
        response = client.post(reverse("login"), {"username": username, "password": "wrong"})
        assert "Please enter a correct username and password" in response.content.decode()
    response = client.post(reverse("login"), {"username": username, "password": "correct-horse-battery-staple"})
    assert response.status_code == 200
    assert "Too many failed sign-ins" in response.content.decode()
    other = make_user()
    response = client.post(reverse("login"), {"username": other.username, "password": "correct-horse-battery-staple"})
    assert response.status_code == 302

    cache.clear()
    response = Client().post(reverse("login"), {"username": username, "password": "correct-horse-battery-staple"})
    assert response.status_code == 302


def test_sign_out_is_a_post(tenant_a):
    client = signed_in(tenant_a.owner, tenant_a.tenant)
    assert client.get(reverse("logout")).status_code == 405
    response = client.post(reverse("logout"))
    assert response["Location"] == reverse("login")
    assert client.get(reverse("portal:dashboard")).status_code == 302


def test_password_reset_by_email(tenant_a):
    client = Client()
    client.post(reverse("password_reset"), {"email": tenant_a.owner.email})
    assert len(mail.outbox) == 1
    link = _link_in(mail.outbox[0])
    form_page = client.get(link, follow=True)
    assert form_page.context["validlink"]
    response = client.post(
        form_page.redirect_chain[-1][0], {"new_password1": PASSWORD, "new_password2": PASSWORD}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("password_reset_complete")
    assert Client().login(username=tenant_a.owner.username, password=PASSWORD)


def _invite(tenant_a, email="new@example.com", role=Role.ANALYST):
    client = signed_in(tenant_a.owner, tenant_a.tenant)
    response = client.post(reverse("portal:member_invite"), {"email": email, "role": role})
    assert response.status_code == 302
    return _link_in(mail.outbox[-1])


def test_an_invited_person_signs_up_and_joins_with_the_role(tenant_a):
    link = _invite(tenant_a)
    client = Client()
    page = client.get(link)
    assert "new@example.com" in page.content.decode()
    response = client.post(link, {"username": "newbie", "password1": PASSWORD, "password2": PASSWORD})
    assert response.status_code == 302
    membership = Membership.objects.get(tenant=tenant_a.tenant, user__username="newbie")
    assert membership.role == Role.ANALYST
    assert membership.user.email == "new@example.com"
    assert client.session[SESSION_KEY] == tenant_a.tenant.pk

    again = Client().get(link)
    assert again.status_code == 400
    assert "already been used" in again.content.decode()


def test_a_signed_in_person_accepts_an_invitation_for_their_address(tenant_a):
    person = make_user()
    link = _invite(tenant_a, email=person.email, role=Role.VIEWER)
    client = signed_in(person)
    assert client.post(link).status_code == 302
    assert Membership.objects.get(tenant=tenant_a.tenant, user=person).role == Role.VIEWER


def test_an_invitation_for_another_address_is_refused(tenant_a):
    link = _invite(tenant_a, email="someone-else@example.com")
    person = make_user()
    response = signed_in(person).post(link, follow=True)
    assert "This invitation is for someone-else@example.com" in response.content.decode()
    assert not Membership.objects.filter(tenant=tenant_a.tenant, user=person).exists()


def test_expired_and_forged_invitations_are_refused(tenant_a, monkeypatch):
    link = _invite(tenant_a)
    monkeypatch.setattr(portal_services, "INVITATION_MAX_AGE", -1)
    assert "expired" in Client().get(link).content.decode()
    forged = reverse("accept_invitation", kwargs={"token": "not-a-token"})
    assert Client().get(forged).status_code == 400


def test_admins_cannot_invite_owners(tenant_a):
    admin = add_member(tenant_a.tenant, role=Role.ADMIN)
    client = signed_in(admin, tenant_a.tenant)
    response = client.post(reverse("portal:member_invite"), {"email": "x@example.com", "role": Role.OWNER}, follow=True)
    assert "Only an owner" in response.content.decode()
    assert mail.outbox == []


def test_switching_to_an_organisation_of_ones_own(tenant_a, tenant_b):
    person = make_user()
    add_member(tenant_a.tenant, person, Role.VIEWER)
    add_member(tenant_b.tenant, person, Role.ADMIN)
    client = signed_in(person, tenant_a.tenant)
    assert 'id="tenant-switcher"' in client.get(reverse("portal:dashboard")).content.decode()
    response = client.post(reverse("portal:switch_tenant"), {"tenant": tenant_b.tenant.pk}, follow=True)
    assert response.context["current_tenant"] == tenant_b.tenant
    assert client.session[SESSION_KEY] == tenant_b.tenant.pk


def test_switching_to_a_foreign_organisation_is_not_found(tenant_a, tenant_b):
    client = signed_in(tenant_a.owner, tenant_a.tenant)
    assert client.post(reverse("portal:switch_tenant"), {"tenant": tenant_b.tenant.pk}).status_code == 404
    assert client.post(reverse("portal:switch_tenant"), {"tenant": "nope"}).status_code == 404
    assert client.session[SESSION_KEY] == tenant_a.tenant.pk


def test_a_signed_in_person_creates_another_organisation(tenant_a):
    client = signed_in(tenant_a.owner, tenant_a.tenant)
    client.post(reverse("portal:tenant_create"), {"name": "Second shop"})
    membership = Membership.objects.unscoped().get(user=tenant_a.owner, tenant__name="Second shop")
    assert membership.role == Role.OWNER
    assert client.session[SESSION_KEY] == membership.tenant_id
    assert get_user_model().objects.count() == 1

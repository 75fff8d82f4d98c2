"""Every portal page and action against every role, another tenant's objects, anonymous visitors and CSRF."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, reverse
from django.utils import timezone

from portal import urls as portal_urls
from recommender.data import services as data_services
from recommender.training.models import ModelConfig
from tenants.audit import Actor
from tenants.models import ROLE_RANK, Invitation, Membership, Role

from ..factories import make_user
from .conftest import signed_in

pytestmark = pytest.mark.django_db

ROLES = [Role.VIEWER, Role.ANALYST, Role.ADMIN, Role.OWNER]


def _owner_membership(stock):
    return [Membership.objects.get(tenant=stock.world.tenant, user=stock.world.owner).pk]


def _catalogue_item(stock):
    """A catalogue item of the stock's tenant, with an id the other tenant does not have."""
    item_id = f"item-of-{stock.world.tenant.slug}"
    data_services.upsert_catalogue_items(actor=Actor.system(stock.world.tenant), items=[{"item_id": item_id}])
    return [item_id]


def _pending_invitation(stock):
    invitation, _ = Invitation.objects.unscoped().get_or_create(
        tenant=stock.world.tenant,
        email="invited@example.com",
        state=Invitation.State.PENDING,
        defaults={"role": Role.VIEWER, "expires_at": timezone.now() + timedelta(days=7)},
    )
    return [invitation.pk]


def _experiment(stock):
    """A running A/A experiment on the stock's model (started once, through the API)."""
    from recommender.feedback.models import Experiment

    existing = Experiment.objects.for_tenant(stock.world.tenant).filter(config=stock.config).first()
    if existing is None:
        arms = [
            {"name": "control", "version": 1, "split": 50, "control": True},
            {"name": "b", "version": 1, "split": 50},
        ]
        body = {"name": "a-a", "model": stock.config.slug, "arms": arms}
        response = stock.world.client.post("/api/v1/experiments", body, format="json")
        assert response.status_code == 201, response.content
        return [response.json()["id"]]
    return [existing.pk]


# (URL name, its arguments from a tenant's stock, the least role that may open it)
PAGES = [
    ("portal:dashboard", None, Role.VIEWER),
    ("portal:datasets", None, Role.VIEWER),
    ("portal:dataset_create", None, Role.ANALYST),
    ("portal:dataset", lambda stock: [stock.dataset.pk], Role.VIEWER),
    ("portal:dataset_upload", lambda stock: [stock.dataset.pk], Role.ANALYST),
    ("portal:dataset_import", lambda stock: [stock.job.pk], Role.VIEWER),
    ("portal:dataset_import_status", lambda stock: [stock.job.pk], Role.VIEWER),
    ("portal:data_catalogue", None, Role.VIEWER),
    ("portal:data_privacy", None, Role.VIEWER),
    ("portal:models", None, Role.VIEWER),
    ("portal:model_create", None, Role.ANALYST),
    ("portal:model", lambda stock: [stock.config.slug], Role.VIEWER),
    ("portal:model_edit", lambda stock: [stock.config.slug], Role.ANALYST),
    ("portal:model_versions", lambda stock: [stock.config.slug], Role.VIEWER),
    ("portal:model_run", lambda stock: [stock.run.pk], Role.VIEWER),
    ("portal:model_run_status", lambda stock: [stock.run.pk], Role.VIEWER),
    ("portal:try_it", None, Role.VIEWER),
    ("portal:feedback_metrics", None, Role.VIEWER),
    ("portal:feedback_experiments", None, Role.VIEWER),
    ("portal:feedback_experiment", _experiment, Role.VIEWER),
    ("portal:members", None, Role.VIEWER),
    ("portal:usage", None, Role.VIEWER),
    ("portal:api_keys", None, Role.ADMIN),
    ("portal:audit_log", None, Role.ADMIN),
    ("portal:tenant_settings", None, Role.OWNER),
]

# Changes: POST only; a lower role gets 403 before anything is read from the request.
ACTIONS = [
    ("portal:dataset_stats_refresh", lambda stock: [stock.dataset.pk], Role.ANALYST),
    ("portal:dataset_import_rerun", lambda stock: [stock.job.pk], Role.ANALYST),
    ("portal:data_item_deactivate", _catalogue_item, Role.ANALYST),
    ("portal:data_item_reactivate", _catalogue_item, Role.ANALYST),
    ("portal:data_privacy_pseudonymisation", None, Role.ANALYST),
    ("portal:data_privacy_erase", None, Role.ANALYST),
    ("portal:model_train", lambda stock: [stock.config.slug], Role.ANALYST),
    ("portal:model_deploy", lambda stock: [stock.config.slug, 1], Role.ANALYST),
    ("portal:model_delete", lambda stock: [stock.config.slug], Role.ANALYST),
    ("portal:model_run_cancel", lambda stock: [stock.run.pk], Role.ANALYST),
    ("portal:model_run_retry", lambda stock: [stock.run.pk], Role.ANALYST),
    ("portal:feedback_settings_update", None, Role.ANALYST),
    ("portal:feedback_experiment_create", None, Role.ANALYST),
    ("portal:feedback_experiment_stop", _experiment, Role.ANALYST),
    ("portal:feedback_experiment_promote", _experiment, Role.ANALYST),
    ("portal:api_key_revoke", lambda stock: [stock.world.api_key.pk], Role.ADMIN),
    ("portal:member_invite", None, Role.ADMIN),
    ("portal:member_role", _owner_membership, Role.ADMIN),
    ("portal:member_remove", _owner_membership, Role.ADMIN),
    ("portal:invitation_revoke", _pending_invitation, Role.ADMIN),
    ("portal:tenant_delete", None, Role.OWNER),
]

# Pages that need only a signed-in person, not a role in the selected tenant.
SIGNED_IN_ONLY = {"tenant_create", "switch_tenant"}


def _url(name, args, stock):
    return reverse(name, args=args(stock) if args else [])


def _allowed(role, needed):
    return ROLE_RANK[role] >= ROLE_RANK[needed]


@pytest.mark.parametrize("role", ROLES)
def test_each_page_opens_for_roles_high_enough_and_is_forbidden_below(stock_a, client_as, role):
    client = client_as(role)
    for name, args, needed in PAGES:
        response = client.get(_url(name, args, stock_a))
        assert response.status_code == (200 if _allowed(role, needed) else 403), name


@pytest.mark.parametrize("role", ROLES)
def test_each_action_is_forbidden_below_its_role(stock_a, client_as, role):
    client = client_as(role)
    for name, args, needed in ACTIONS:
        if not _allowed(role, needed):
            assert client.post(_url(name, args, stock_a)).status_code == 403, name


def test_another_tenants_objects_are_not_found(stock_a, stock_b):
    client = signed_in(stock_a.world.owner, stock_a.world.tenant)
    for name, args, _ in PAGES:
        if args:
            assert client.get(_url(name, args, stock_b)).status_code == 404, name
    for name, args, _ in ACTIONS:
        if args:
            assert client.post(_url(name, args, stock_b)).status_code == 404, name
    stock_b.world.api_key.refresh_from_db()
    assert stock_b.world.api_key.revoked_at is None
    assert Invitation.objects.get(tenant=stock_b.world.tenant).state == Invitation.State.PENDING
    assert ModelConfig.objects.unscoped().filter(pk=stock_b.config.pk).exists()


def test_anonymous_visitors_are_sent_to_sign_in(stock_a):
    client = Client()
    for name, args, _ in PAGES + ACTIONS:
        url = _url(name, args, stock_a)
        response = client.get(url)
        assert response.status_code == 302, name
        assert response["Location"] == f"{reverse('login')}?next={url}"


def test_every_portal_url_is_gated_by_a_role():
    """A new page cannot forget the ``portal_view`` decorator unnoticed."""

    def callbacks(patterns):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from callbacks(pattern.url_patterns)
            elif isinstance(pattern, URLPattern):
                yield pattern.name, pattern.callback

    gated = {name for name, view in callbacks(portal_urls.urlpatterns) if hasattr(view, "required_role")}
    every = {name for name, _ in callbacks(portal_urls.urlpatterns)}
    assert every - gated == SIGNED_IN_ONLY
    tested = {name.split(":")[1] for name, _, _ in PAGES + ACTIONS}
    assert gated - tested == set(), "add the new page to PAGES or ACTIONS"


def test_an_unknown_page_is_the_portals_not_found_page(tenant_a):
    response = signed_in(tenant_a.owner).get("/no-such-page/")
    assert response.status_code == 404
    assert "<h1>Not found</h1>" in response.content.decode()


def test_a_person_without_a_tenant_is_offered_to_create_one(db):
    client = signed_in(make_user())
    response = client.get(reverse("portal:dashboard"))
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:tenant_create")


def test_posts_need_the_csrf_token(tenant_a):
    client = signed_in(tenant_a.owner, enforce_csrf_checks=True)
    response = client.post(reverse("portal:api_keys"), {"name": "x", "scopes": ["recommend"]})
    assert response.status_code == 403
    assert tenant_a.tenant.apikeys.count() == 1

    client.get(reverse("portal:api_keys"))
    token = client.cookies["csrftoken"].value
    response = client.post(
        reverse("portal:api_keys"), {"name": "x", "scopes": ["recommend"], "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 200
    assert tenant_a.tenant.apikeys.count() == 2


def test_a_suspended_tenant_can_be_read_but_not_changed(tenant_a):
    tenant_a.tenant.status = "suspended"
    tenant_a.tenant.save()
    client = signed_in(tenant_a.owner, tenant_a.tenant)
    assert client.get(reverse("portal:api_keys")).status_code == 200
    assert client.post(reverse("portal:api_keys"), {"name": "x", "scopes": ["recommend"]}).status_code == 403

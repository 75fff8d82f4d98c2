"""The catalogue page (search, pages, deactivating, reactivating) and the privacy page (pseudonymisation, erasure)."""

import pytest
from django.urls import reverse

from recommender.data import selectors as data_selectors
from recommender.data import services as data_services
from recommender.data.models import Dataset, Interaction, Item
from recommender.data.privacy import MASK, data_settings
from tenants.audit import Actor
from tenants.models import AuditLog

from .conftest import signed_in

pytestmark = pytest.mark.django_db


def add_items(world, items):
    data_services.upsert_catalogue_items(actor=Actor.system(world.tenant), items=items)


@pytest.fixture
def books_a(tenant_a):
    """120 items of tenant A: ``b000`` … ``b119``, titled "Book n", every third one about science."""
    add_items(
        tenant_a,
        [
            {"item_id": f"b{n:03d}", "title": f"Book {n}", "categories": ["science" if n % 3 == 0 else "fiction"]}
            for n in range(120)
        ],
    )


def catalogue(client, **query):
    return client.get(reverse("portal:data_catalogue"), query)


def shown_ids(response):
    return [item.item_id for item, _ in response.context["rows"]]


def test_the_catalogue_lists_items_fifty_a_page(books_a, client_as):
    client = client_as("viewer")
    first = catalogue(client)
    assert shown_ids(first) == [f"b{n:03d}" for n in range(50)]
    html = first.content.decode()
    assert "<td><code>b003</code></td>" in html and "<td>Book 3</td>" in html and "<td>science</td>" in html
    assert "120 items" in html
    assert "Page 1 of 3" in html and 'href="?page=2">Next</a>' in html

    last = catalogue(client, page=3)
    assert shown_ids(last) == [f"b{n:03d}" for n in range(100, 120)]


def test_the_catalogue_is_searched_by_item_id_or_title_and_filtered_by_state(books_a, tenant_a, client_as):
    client = client_as("viewer")
    assert shown_ids(catalogue(client, q="B11")) == [f"b{n}" for n in range(110, 120)]
    add_items(tenant_a, [{"item_id": "x-1", "title": "The Big Sleep", "is_active": False}])
    assert shown_ids(catalogue(client, q="big sleep")) == ["x-1"]
    assert shown_ids(catalogue(client, state="inactive")) == ["x-1"]
    assert "x-1" not in shown_ids(catalogue(client, state="active", page=3))

    page = catalogue(client, q="nothing like it")
    assert page.context["rows"] == []
    assert "No item matches these filters." in page.content.decode()


def test_a_search_with_an_unstorable_character_is_refused_clearly(books_a, client_as):
    page = catalogue(client_as("viewer"), q="b0\x00")
    assert page.status_code == 200
    assert "cannot be stored" in page.content.decode()


def test_an_analyst_deactivates_an_item_and_returns_to_the_same_list(books_a, tenant_a, client_as):
    client = client_as("analyst")
    listing = catalogue(client, q="b00", page=1)
    assert 'data-confirm="Deactivate b007? It is no longer recommended."' in listing.content.decode()

    response = client.post(
        reverse("portal:data_item_deactivate", args=["b007"]), {"list_query": listing.context["list_query"]}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:data_catalogue") + "?q=b00&page=1"
    item = Item.objects.get(tenant=tenant_a.tenant, item_id="b007")
    assert item.is_active is False
    assert "b007" in data_selectors.inactive_item_ids(tenant_a.tenant)
    assert AuditLog.objects.filter(tenant=tenant_a.tenant, action="item.deactivated").count() == 1

    page = client.get(response["Location"]).content.decode()
    assert "Deactivated b007: it is no longer recommended." in page
    assert shown_ids(catalogue(client, state="inactive")) == ["b007"]


def test_an_item_id_with_a_slash_is_deactivated_too(tenant_a, client_as):
    add_items(tenant_a, [{"item_id": "shelf/7 a?"}])
    response = client_as("analyst").post(reverse("portal:data_item_deactivate", args=["shelf/7 a?"]))
    assert response.status_code == 302
    assert Item.objects.get(tenant=tenant_a.tenant).is_active is False


def test_a_viewer_sees_no_deactivate_button_and_cannot_deactivate(books_a, tenant_a, client_as):
    client = client_as("viewer")
    assert "data-confirm" not in catalogue(client).content.decode()
    response = client.post(reverse("portal:data_item_deactivate", args=["b001"]))
    assert response.status_code == 403
    assert Item.objects.get(tenant=tenant_a.tenant, item_id="b001").is_active is True


def test_another_tenants_item_is_not_found_and_stays_active(tenant_a, tenant_b):
    add_items(tenant_b, [{"item_id": "only-in-b", "title": "B's secret"}])
    client = signed_in(tenant_a.owner, tenant_a.tenant)
    response = client.post(reverse("portal:data_item_deactivate", args=["only-in-b"]))
    assert response.status_code == 404
    assert Item.objects.get(tenant=tenant_b.tenant).is_active is True
    assert "only-in-b" not in catalogue(client).content.decode()


def test_an_analyst_reactivates_an_item_and_serving_sees_it_again(books_a, tenant_a, client_as):
    add_items(tenant_a, [{"item_id": "x-1", "title": "The Big Sleep", "is_active": False}])
    client = client_as("analyst")
    listing = catalogue(client, state="inactive")
    html = listing.content.decode()
    assert 'action="' + reverse("portal:data_item_reactivate", args=["x-1"]) + '"' in html
    assert "Reactivate<span" in html

    response = client.post(
        reverse("portal:data_item_reactivate", args=["x-1"]), {"list_query": listing.context["list_query"]}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:data_catalogue") + "?state=inactive"
    assert Item.objects.get(tenant=tenant_a.tenant, item_id="x-1").is_active is True
    assert "x-1" not in data_selectors.inactive_item_ids(tenant_a.tenant)
    entry = AuditLog.objects.get(tenant=tenant_a.tenant, action="item.reactivated")
    assert (entry.object_type, entry.object_repr) == ("Item", "The Big Sleep")
    assert entry.actor_user == response.wsgi_request.user

    page = client.get(response["Location"]).content.decode()
    assert "Reactivated x-1: it can be recommended again within a second." in page
    assert shown_ids(catalogue(client, state="inactive")) == []


def test_reactivating_an_active_item_changes_nothing(books_a, tenant_a, client_as):
    response = client_as("analyst").post(reverse("portal:data_item_reactivate", args=["b001"]), follow=True)
    assert "b001 is already active." in response.content.decode()
    assert not AuditLog.objects.filter(tenant=tenant_a.tenant, action="item.reactivated").exists()


def test_the_reactivate_button_shows_only_on_deactivated_rows_for_analysts(books_a, tenant_a, client_as):
    add_items(tenant_a, [{"item_id": "b001", "is_active": False}])
    analyst_page = catalogue(client_as("analyst"), q="b00").content.decode()
    assert analyst_page.count("Reactivate<span") == 1
    assert reverse("portal:data_item_reactivate", args=["b001"]) in analyst_page
    assert reverse("portal:data_item_reactivate", args=["b002"]) not in analyst_page
    assert reverse("portal:data_item_deactivate", args=["b001"]) not in analyst_page

    viewer_page = catalogue(client_as("viewer"), q="b00").content.decode()
    assert "Reactivate" not in viewer_page


def test_a_viewer_cannot_reactivate(tenant_a, client_as):
    add_items(tenant_a, [{"item_id": "x-1", "is_active": False}])
    response = client_as("viewer").post(reverse("portal:data_item_reactivate", args=["x-1"]))
    assert response.status_code == 403
    assert Item.objects.get(tenant=tenant_a.tenant, item_id="x-1").is_active is False


def test_another_tenants_item_is_not_found_and_stays_deactivated(tenant_a, tenant_b):
    add_items(tenant_b, [{"item_id": "only-in-b", "is_active": False}])
    client = signed_in(tenant_a.owner, tenant_a.tenant)
    response = client.post(reverse("portal:data_item_reactivate", args=["only-in-b"]))
    assert response.status_code == 404
    assert Item.objects.get(tenant=tenant_b.tenant).is_active is False
    assert not AuditLog.objects.unscoped().filter(action="item.reactivated").exists()


def test_sensitive_features_are_never_shown_in_clear(tenant_a, client_as):
    data_services.create_dataset(
        actor=Actor.system(tenant_a.tenant), name="items", kind=Dataset.Kind.ITEMS, sensitive_columns=["cost"]
    )
    add_items(tenant_a, [{"item_id": "i1", "features": {"cost": 987654.25, "colour": "teal"}}])
    html = catalogue(client_as("viewer")).content.decode()
    assert "987654" not in html
    assert f'<span class="muted">cost:</span> {MASK}' in html
    assert '<span class="muted">colour:</span> teal' in html


# --- Privacy ---------------------------------------------------------------------------------------------


def test_pseudonymisation_is_switched_on_an_empty_tenant(tenant_a, client_as):
    client = client_as("analyst")
    assert "stored as sent" in client.get(reverse("portal:data_privacy")).content.decode()

    response = client.post(reverse("portal:data_privacy_pseudonymisation"), {"pseudonymize_user_ids": "on"})
    assert response["Location"] == reverse("portal:data_privacy")
    assert data_settings(tenant_a.tenant).pseudonymize_user_ids is True
    page = client.get(response["Location"]).content.decode()
    assert "User ids are now pseudonymised." in page
    assert '<span class="badge badge-active">pseudonymised</span>' in page
    assert AuditLog.objects.filter(tenant=tenant_a.tenant, action="data_settings.updated").count() == 1

    client.post(reverse("portal:data_privacy_pseudonymisation"), {})
    assert data_settings(tenant_a.tenant).pseudonymize_user_ids is False


def test_pseudonymisation_is_refused_with_the_reason_once_user_data_is_stored(clicks_a, tenant_a, client_as):
    client = client_as("analyst")
    response = client.post(
        reverse("portal:data_privacy_pseudonymisation"), {"pseudonymize_user_ids": "on"}, follow=True
    )
    assert "ids already stored would stop matching new ones. Erase the data first." in response.content.decode()
    assert data_settings(tenant_a.tenant).pseudonymize_user_ids is False
    assert not AuditLog.objects.filter(tenant=tenant_a.tenant, action="data_settings.updated").exists()


def test_erasing_an_end_user_removes_their_interactions_and_shows_the_counts(clicks_a, tenant_a, client_as):
    stored = Interaction.objects.filter(tenant=tenant_a.tenant, user_id="u1").count()
    assert stored == 6
    client = client_as("analyst")
    assert (
        'data-confirm="Erase everything stored about this user?'
        in client.get(reverse("portal:data_privacy")).content.decode()
    )

    response = client.post(reverse("portal:data_privacy_erase"), {"user_id": "u1"}, follow=True)
    assert "Erased the end user: 6 interactions and 0 feature records removed." in response.content.decode()
    assert not Interaction.objects.filter(tenant=tenant_a.tenant, user_id="u1").exists()
    assert Interaction.objects.filter(tenant=tenant_a.tenant, user_id="u2").count() == 6
    assert data_selectors.is_erased_user(tenant_a.tenant, "u1")
    assert AuditLog.objects.filter(tenant=tenant_a.tenant, action="end_user.erased").count() == 1


def test_erasure_takes_the_id_as_the_tenant_knows_it_when_ids_are_pseudonymised(tenant_a, client_as):
    client = client_as("analyst")
    client.post(reverse("portal:data_privacy_pseudonymisation"), {"pseudonymize_user_ids": "on"})
    data_services.record_events(actor=Actor.system(tenant_a.tenant), events=[{"user_id": "alice", "item_id": "i1"}])
    assert not Interaction.objects.filter(tenant=tenant_a.tenant, user_id="alice").exists()

    response = client.post(reverse("portal:data_privacy_erase"), {"user_id": "alice"}, follow=True)
    assert "1 interaction and 0 feature records removed" in response.content.decode()
    assert not Interaction.objects.filter(tenant=tenant_a.tenant).exists()


def test_erasing_an_unknown_user_says_nothing_was_stored(tenant_a, client_as):
    response = client_as("analyst").post(reverse("portal:data_privacy_erase"), {"user_id": "ghost"}, follow=True)
    assert "Nothing was stored under that user id (0 interactions and 0 feature records removed)." in (
        response.content.decode()
    )


def test_a_bad_user_id_is_refused_and_nothing_is_erased(clicks_a, tenant_a, client_as):
    client = client_as("analyst")
    before = Interaction.objects.filter(tenant=tenant_a.tenant).count()
    for bad in ("", "u1\x00"):
        response = client.post(reverse("portal:data_privacy_erase"), {"user_id": bad})
        assert response.status_code == 200
        assert response.context["erase_form"].errors["user_id"]
    assert Interaction.objects.filter(tenant=tenant_a.tenant).count() == before
    assert not AuditLog.objects.filter(tenant=tenant_a.tenant, action="end_user.erased").exists()


def test_a_viewer_sees_the_setting_but_cannot_switch_it_or_erase(clicks_a, tenant_a, client_as):
    client = client_as("viewer")
    page = client.get(reverse("portal:data_privacy")).content.decode()
    assert "stored as sent" in page
    assert "Erasing needs the analyst role or higher." in page
    assert 'action="' + reverse("portal:data_privacy_erase") not in page

    assert client.post(reverse("portal:data_privacy_erase"), {"user_id": "u1"}).status_code == 403
    assert Interaction.objects.filter(tenant=tenant_a.tenant, user_id="u1").count() == 6
    response = client.post(reverse("portal:data_privacy_pseudonymisation"), {"pseudonymize_user_ids": "on"})
    assert response.status_code == 403

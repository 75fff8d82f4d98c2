"""What a new user met on a first try of the portal (issue 13), one test per rough edge."""

import pytest
from django.urls import reverse

from .conftest import signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_client(tenant_a):
    return signed_in(tenant_a.owner, tenant_a.tenant)


def test_the_dashboard_names_quotas_in_words(owner_client):
    page = owner_client.get(reverse("portal:dashboard")).content.decode()
    assert "Training runs per day" in page
    assert "Training_runs_per_day" not in page


def test_every_page_links_the_portal_icon(owner_client, client):
    for response in (owner_client.get(reverse("portal:dashboard")), client.get(reverse("login"))):
        assert b'rel="icon"' in response.content

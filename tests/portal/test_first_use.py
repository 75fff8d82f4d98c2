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


def test_each_numeric_parameter_suggests_a_tuning_range_inside_its_own_range(owner_client):
    """Once every number said "1..100", dropout (0 to 0.9) included."""
    import re

    from recommender import ml

    seen = 0
    for recipe in ml.list_recipes():
        form = owner_client.get(reverse("portal:model_create"), {"recipe": recipe.name}).context["form"]
        for param in recipe.params:
            if param.type not in ("int", "float"):
                continue
            help_text = form.fields[f"param_{param.name}"].help_text
            low, high = map(float, re.search(r"a range such as ([\d.e-]+)\.\.([\d.e-]+)\.", help_text).groups())
            assert param.min <= low < high <= param.max, (recipe.name, param.name, help_text)
            recipe.validate({param.name: {"min": low, "max": high}}, allow_search_space=True)
            seen += 1
    assert seen > 20
    dropout = param_help("neumf", "dropout", owner_client)
    assert "a range such as 0..0.2." in dropout


def param_help(recipe, name, client):
    form = client.get(reverse("portal:model_create"), {"recipe": recipe}).context["form"]
    return form.fields[f"param_{name}"].help_text

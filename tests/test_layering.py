"""The layering rules hold on the tree, and each rule fails on a planted violation."""

import textwrap

import pytest

from core.layering import UNSCOPED_ALLOWED, check_tree, unscoped_uses


def test_the_tree_keeps_every_layering_rule():
    assert [str(violation) for violation in check_tree()] == []


@pytest.mark.parametrize(
    ("path", "source", "problem"),
    [
        ("recommender/ml/recipes/planted.py", "from django.db import models\n", "imports django.db"),
        ("recommender/ml/planted.py", "import recommender.serving.loader\n", "imports recommender.serving.loader"),
        ("tenants/planted.py", "from recommender.data.models import Dataset\n", "imports recommender.data.models"),
        ("core/planted.py", "import tenants.models\n", "imports tenants.models"),
        ("core/planted.py", "from portal import charts\n", "imports portal"),
        ("tenants/admin.py", "from portal.account_forms import SignUpForm\n", "the portal sits above tenants"),
        ("recommender/data/planted.py", "import portal.urls\n", "the portal sits above recommender"),
        ("portal/views/planted.py", "from rest_framework.exceptions import ValidationError\n", "never DRF"),
        ("portal/forms.py", "from recommender.data.api.serializers import X\n", "API's serializers"),
        ("portal/views/data.py", "def f():\n    from tenants.api import errors\n", "API's serializers"),
        ("recommender/data/services.py", "from rest_framework.exceptions import ValidationError\n", "never HTTP"),
        ("recommender/training/services/planted.py", "import rest_framework\n", "never HTTP"),
        ("recommender/data/selectors.py", "def f():\n    from rest_framework import status\n", "never HTTP"),
        ("recommender/data/api/views.py", "Dataset.objects.unscoped().all()\n", ".unscoped()"),
    ],
)
def test_a_planted_violation_is_caught(tmp_path, path, source, problem):
    planted = tmp_path / path
    planted.parent.mkdir(parents=True)
    planted.write_text(textwrap.dedent(source))

    found = check_tree(tmp_path)

    assert len(found) == 1
    assert found[0].path == path and problem in found[0].problem


def test_unscoped_is_allowed_with_a_reason_in_the_listed_files_and_in_migrations(tmp_path):
    for path in ("tenants/operator_admin.py", "recommender/data/migrations/0099_backfill.py"):
        planted = tmp_path / path
        planted.parent.mkdir(parents=True, exist_ok=True)
        planted.write_text("# cross-tenant: operators see every tenant\nDataset.objects.unscoped().all()\n")

    assert check_tree(tmp_path) == []


def test_the_portal_may_import_tenants_and_recommender_and_the_urlconf_may_import_the_portal(tmp_path):
    sources = {
        "portal/views/planted.py": "from recommender.data import services\nfrom tenants.models import Role\n",
        "saas_platform/urls.py": "from django.urls import include\nURLS = include('portal.urls')\nimport portal.urls\n",
    }
    for path, source in sources.items():
        planted = tmp_path / path
        planted.parent.mkdir(parents=True)
        planted.write_text(source)

    assert check_tree(tmp_path) == []


def test_unscoped_without_a_reason_is_caught_even_in_a_listed_file(tmp_path):
    planted = tmp_path / "tenants/operator_admin.py"
    planted.parent.mkdir(parents=True)
    planted.write_text("Dataset.objects.unscoped().all()\n")

    found = check_tree(tmp_path)

    assert [(v.path, v.line) for v in found] == [("tenants/operator_admin.py", 1)]
    assert "cross-tenant" in found[0].problem


def test_the_unscoped_list_names_exactly_the_files_that_use_it():
    """Every ``.unscoped()`` outside tests and migrations is in a listed file, and every listed file uses it.

    Adding one elsewhere fails the tree check above; a file that stops using it must leave the list, so the
    list stays the inventory of cross-tenant code a reviewer reads.
    """
    uses = unscoped_uses()
    assert sorted(uses) == sorted(UNSCOPED_ALLOWED)

"""Tenancy by construction: a tenant-owned query runs only for a tenant, and a bound tenant sees only its rows."""

import pytest
from django.db.models import Count
from django.test import Client

from recommender.data.models import Dataset, ImportJob
from tenants.models import AuditLog
from tenants.tenancy import TenantScopeError, bind_tenant, current_tenant_id, tenant_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def datasets(tenant_a, tenant_b):
    """One dataset of each tenant, created without a bound tenant (creating is not a query)."""
    a = Dataset.objects.create(tenant=tenant_a.tenant, name="a-clicks", kind=Dataset.Kind.INTERACTIONS)
    b = Dataset.objects.create(tenant=tenant_b.tenant, name="b-clicks", kind=Dataset.Kind.INTERACTIONS)
    return a, b


@pytest.mark.parametrize(
    "run",
    [
        lambda: list(Dataset.objects.all()),
        lambda: Dataset.objects.get(name="a-clicks"),
        lambda: Dataset.objects.filter(name="a-clicks").first(),
        lambda: Dataset.objects.count(),
        lambda: Dataset.objects.exists(),
        lambda: Dataset.objects.aggregate(n=Count("id")),
        lambda: Dataset.objects.update(description="changed"),
        lambda: Dataset.objects.filter(name="b-clicks").delete(),
        lambda: list(Dataset.objects.iterator()),
        lambda: Dataset.objects.in_bulk(),
        lambda: list(Dataset.objects.values_list("name", flat=True)),
        lambda: list(Dataset.objects.exclude(tenant__name="Tenant A")),
        lambda: list(ImportJob.objects.filter(dataset__in=Dataset.objects.filter(name="a-clicks"))),
    ],
    ids=[
        "list",
        "get",
        "first",
        "count",
        "exists",
        "aggregate",
        "update",
        "delete",
        "iterator",
        "in_bulk",
        "values",
        "exclude-is-no-scope",
        "subquery",
    ],
)
def test_a_tenant_owned_query_without_a_tenant_raises(datasets, run):
    with pytest.raises(TenantScopeError, match=r"Tenant-owned query on \w+ without a bound tenant: use \.for_tenant"):
        run()
    # Nothing was changed or deleted by the refused calls.
    assert Dataset.objects.unscoped().filter(description="").count() == 2


def test_within_a_bound_tenant_another_tenants_row_is_out_of_reach(datasets):
    a, b = datasets
    with bind_tenant(a.tenant):
        assert list(Dataset.objects.all()) == [a]
        assert Dataset.objects.filter(pk=a.pk).exists()
        with pytest.raises(Dataset.DoesNotExist):
            Dataset.objects.get(pk=b.pk)  # a raw primary key of B's row
        assert Dataset.objects.filter(pk=b.pk).update(description="hijacked") == 0
        assert Dataset.objects.filter(pk=b.pk).delete()[0] == 0
        # Even naming B explicitly inside A's binding reaches nothing.
        assert not Dataset.objects.for_tenant(b.tenant).exists()
    b.refresh_from_db()
    assert b.description == ""


def test_a_queryset_built_before_binding_is_restricted_when_it_runs(datasets):
    """A form field's or a class attribute's queryset is built at import time, with no tenant bound."""
    a, _ = datasets
    built_unbound = Dataset.objects.all()
    with bind_tenant(a.tenant_id):
        assert list(built_unbound) == [a]


def test_an_explicit_tenant_filter_works_unbound(datasets, tenant_a, tenant_b):
    a, b = datasets
    assert list(Dataset.objects.for_tenant(tenant_a.tenant)) == [a]
    assert Dataset.objects.filter(tenant_id=tenant_b.tenant.pk).get() == b
    assert set(Dataset.objects.filter(tenant__in=[tenant_a.tenant, tenant_b.tenant])) == {a, b}
    assert list(tenant_a.tenant.datasets.all()) == [a]  # a reverse relation from the tenant


def test_a_relation_from_a_tenant_owned_row_is_restricted_to_that_rows_tenant(datasets, tenant_b):
    a, _ = datasets
    job = ImportJob.objects.create(tenant=a.tenant, dataset=a, file_name="a.csv")
    # A row of B's pointing at A's dataset (only a bug could make one) stays out of A's relation.
    ImportJob.objects.create(tenant=tenant_b.tenant, dataset=a, file_name="b.csv")
    assert list(a.imports.all()) == [job]
    assert list(ImportJob.objects.filter(dataset=a)) == [job]
    # Prefetching follows the same rule, bound or not.
    assert [list(d.imports.all()) for d in Dataset.objects.for_tenant(a.tenant).prefetch_related("imports")] == [[job]]
    with bind_tenant(a.tenant):
        assert [list(d.imports.all()) for d in Dataset.objects.prefetch_related("imports")] == [[job]]
    # Following a foreign key from a loaded row needs no tenant (the plain base manager).
    assert ImportJob.objects.for_tenant(a.tenant).get().dataset == a


def test_unscoped_sees_every_tenant_even_when_one_is_bound(datasets):
    a, b = datasets
    assert set(Dataset.objects.unscoped()) == {a, b}
    with bind_tenant(a.tenant):
        assert set(Dataset.objects.unscoped()) == {a, b}


def test_bindings_nest_and_end(tenant_a, tenant_b):
    assert current_tenant_id() is None
    with bind_tenant(tenant_a.tenant):
        with bind_tenant(tenant_b.tenant.pk):
            assert current_tenant_id() == tenant_b.tenant.pk
        assert current_tenant_id() == tenant_a.tenant.pk
    assert current_tenant_id() is None
    with pytest.raises(TenantScopeError, match="a tenant or its id is needed"):
        bind_tenant(None).__enter__()


def test_a_task_binds_the_tenant_of_its_tenant_id_argument(datasets, tenant_a):
    a, _ = datasets
    seen = []

    @tenant_task
    def task(tenant_id, dataset_id):
        seen.append((current_tenant_id(), [d.pk for d in Dataset.objects.all()]))

    task(tenant_a.tenant.pk, a.pk)
    task(dataset_id=a.pk, tenant_id=tenant_a.tenant.pk)
    assert seen == [(tenant_a.tenant.pk, [a.pk])] * 2
    assert current_tenant_id() is None


def test_the_project_tasks_bind_their_tenant(datasets, tenant_a, monkeypatch):
    """``refresh_stats`` (a ``(tenant_id, object_id)`` task) runs bound to its tenant."""
    from recommender.data import tasks

    a, _ = datasets
    seen = []
    monkeypatch.setattr(tasks, "refresh_dataset_stats", lambda dataset: seen.append(current_tenant_id()))
    tasks.refresh_stats.apply(args=[tenant_a.tenant.pk, a.pk]).get()
    assert seen == [tenant_a.tenant.pk]


def test_the_api_binds_the_requests_tenant(datasets, tenant_a, monkeypatch):
    from tenants import scoping

    seen = []
    original = scoping.TenantContextMixin.perform_authentication

    def spy(self, request):
        original(self, request)
        seen.append(current_tenant_id())

    monkeypatch.setattr(scoping.TenantContextMixin, "perform_authentication", spy)
    a, b = datasets
    assert tenant_a.client.get(f"/api/v1/datasets/{a.pk}").status_code == 200
    assert tenant_a.client.get(f"/api/v1/datasets/{b.pk}").status_code == 404
    assert seen == [tenant_a.tenant.pk] * 2
    assert current_tenant_id() is None  # unbound after the request


def test_the_portal_binds_the_selected_tenant(datasets, tenant_a):
    a, b = datasets
    client = Client()
    client.force_login(tenant_a.owner)
    assert client.get(f"/data/{a.pk}/").status_code == 200
    assert client.get(f"/data/{b.pk}/").status_code == 404
    assert current_tenant_id() is None


def test_creating_a_row_needs_no_binding(tenant_a):
    entry = AuditLog.objects.create(tenant=tenant_a.tenant, action="test.created")
    assert AuditLog.objects.for_tenant(tenant_a.tenant).filter(pk=entry.pk).exists()


def test_every_model_with_a_tenant_has_the_scoped_default_manager():
    """A new tenant-owned model (or one that declares its own manager) is caught here."""
    from django.db import models

    from tenants.models import TenantOwnedManager

    from .security.estate import tenant_owned_models

    owned = tenant_owned_models()
    assert len(owned) >= 20
    for model in owned:
        assert isinstance(model._default_manager, TenantOwnedManager), model
        assert type(model._base_manager) is models.Manager, model  # plain: foreign keys, saves, cascades


def test_a_union_runs_when_every_part_names_its_tenant_and_raises_otherwise(datasets, tenant_a, tenant_b):
    a_rows = Dataset.objects.for_tenant(tenant_a.tenant)
    b_rows = Dataset.objects.for_tenant(tenant_b.tenant)
    assert sorted(a_rows.union(b_rows, all=True).values_list("name", flat=True)) == ["a-clicks", "b-clicks"]
    with pytest.raises(TenantScopeError):
        list(a_rows.union(Dataset.objects.filter(name="b-clicks")))

"""Tenant A's estate for the isolation tests: one object of every kind, each marked so a leak is visible.

Every name and id tenant A owns carries ``MARKER``, a string no other tenant
ever sends, so a response to tenant B that contains it has leaked A's data.
"""

from datetime import timedelta

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.utils import timezone

from recommender.data.models import EndUser, ImportJob, Interaction
from recommender.serving.models import BatchJob
from recommender.training.models import ModelVersion, TrainingRun
from tenants.models import Invitation, Membership, Role, Tenant

from ..factories import add_member, make_interactions_dataset
from ..serving.conftest import train_model

MARKER = "zq-a-"


class Estate:
    """Tenant A's objects by kind: the values its URL kwargs take."""

    def __init__(self, world, capture):
        self.world = world
        tenant = world.tenant
        Tenant.objects.filter(pk=tenant.pk).update(name=f"{MARKER}org")
        get_user_model().objects.filter(pk=world.owner.pk).update(username=f"{MARKER}owner")
        self.dataset = make_interactions_dataset(tenant, name=f"{MARKER}clicks")
        # Ids the tenant chose carry the marker too (they are what B would most easily echo back).
        Interaction.objects.filter(tenant=tenant).update(
            user_id=Concat(Value(MARKER), F("user_id")), item_id=Concat(Value(MARKER), F("item_id"))
        )
        train_model(world, capture, slug=f"{MARKER}recs", recipe="popularity", dataset=self.dataset)
        self.slug = f"{MARKER}recs"
        self.run = TrainingRun.objects.get(tenant=tenant)
        self.version = ModelVersion.objects.get(tenant=tenant)
        self.user_id = f"{MARKER}u1"
        self.item_id = f"{MARKER}i1"
        assert (
            world.client.put(
                "/api/v1/items", [{"item_id": self.item_id, "title": f"{MARKER}title"}], format="json"
            ).status_code
            == 200
        )
        EndUser.objects.create(tenant=tenant, user_id=self.user_id, features={"tier": f"{MARKER}gold"})
        with capture(execute=True):
            response = world.client.post(
                f"/api/v1/models/{self.slug}/batch-recommendations", {"user_ids": [self.user_id], "k": 3}, format="json"
            )
        self.batch_job = BatchJob.objects.for_tenant(tenant).get(pk=response.json()["id"])
        assert self.batch_job.status == BatchJob.Status.SUCCEEDED, self.batch_job.error
        csv = f"user_id,item_id\n{MARKER}u99,{MARKER}i99\n".encode()
        with capture(execute=True):
            response = world.client.post(
                f"/api/v1/datasets/{self.dataset.pk}/imports",
                {"file": SimpleUploadedFile(f"{MARKER}upload.csv", csv, content_type="text/csv")},
                format="multipart",
            )
        self.import_job = ImportJob.objects.for_tenant(tenant).get(pk=response.json()["id"])
        viewer = add_member(tenant, role=Role.VIEWER)
        self.membership = Membership.objects.get(tenant=tenant, user=viewer)
        self.api_key = world.api_key
        self.invitation = Invitation.objects.create(
            tenant=tenant,
            email=f"{MARKER}invited@example.com",
            role=Role.ANALYST,
            expires_at=timezone.now() + timedelta(days=7),
        )
        arms = [
            {"name": "control", "version": 1, "split": 50, "control": True},
            {"name": "b", "version": 1, "split": 50},
        ]
        response = world.client.post(
            "/api/v1/experiments", {"name": f"{MARKER}a-a", "model": self.slug, "arms": arms}, format="json"
        )
        assert response.status_code == 201, response.content
        self.experiment_id = response.json()["id"]

    def objects(self):
        """Kind → the value a URL kwarg takes for A's object of that kind."""
        return {
            "dataset": self.dataset.pk,
            "import": self.import_job.pk,
            "model": self.slug,
            "version": self.version.number,
            "run": self.run.pk,
            "batch-job": self.batch_job.pk,
            "api-key": self.api_key.pk,
            "membership": self.membership.pk,
            "invitation": self.invitation.pk,
            "item": self.item_id,
            "end-user": self.user_id,
            "experiment": self.experiment_id,
        }


def tenant_owned_models():
    """Every installed model with a ``tenant`` foreign key (a new one is covered without a list)."""
    found = []
    for model in apps.get_models():
        field = next((f for f in model._meta.get_fields() if f.name == "tenant"), None)
        if field is not None and getattr(field, "related_model", None) is Tenant:
            found.append(model)
    return found


def snapshot(tenant):
    """Every row the tenant owns, field by field, plus the tenant row and its members' accounts."""
    rows = {
        model._meta.label: list(model.objects.filter(tenant=tenant).order_by("pk").values())
        for model in tenant_owned_models()
    }
    rows["tenants.Tenant"] = list(Tenant.objects.filter(pk=tenant.pk).values())
    members = Membership.objects.filter(tenant=tenant).values_list("user_id", flat=True)
    rows["auth.User"] = list(get_user_model().objects.filter(pk__in=members).order_by("pk").values())
    return rows

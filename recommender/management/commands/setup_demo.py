"""``manage.py setup_demo``: the demo tenant that ``make run`` shows a new user.

The first time, it creates the demo shop (catalogue and three months of events),
a model with the platform's default recipe, and trains it on the worker, showing
progress; later runs reuse all of that. Every run prints a fresh API key.
"""

import time

from django.core.management.base import BaseCommand, CommandError

from recommender import demo
from recommender.data.services import event_stream_dataset, record_events, refresh_dataset_stats, upsert_catalogue_items
from recommender.training.models import ModelConfig, TrainingRun
from recommender.training.services.configs import create_config
from recommender.training.services.runs import request_training
from tenants.audit import Actor
from tenants.models import Tenant
from tenants.services import create_tenant, get_or_create_user, issue_api_key

DEMO_SLUG = "demo-shop"
DEMO_MODEL = "shop-recommendations"
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-password-123"  # noqa: S105 (public demo login, printed by make run)


class Command(BaseCommand):
    help = "Create (once) the demo shop with a trained, deployed model; print how to sign in and call the API."

    def add_arguments(self, parser):
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")
        parser.add_argument("--timeout", type=int, default=900, help="Seconds to wait for the first training.")

    def handle(self, *args, base_url, timeout, **options):
        owner = get_or_create_user(username=DEMO_USERNAME, email="demo@example.com", password=DEMO_PASSWORD)
        tenant = Tenant.objects.filter(slug=DEMO_SLUG).first() or create_tenant(
            name="Demo Shop", slug=DEMO_SLUG, owner=owner
        )
        actor = Actor(tenant=tenant, user=owner)
        config = ModelConfig.objects.for_tenant(tenant).filter(slug=DEMO_MODEL).first()
        if config is None:
            config = self._create_shop(actor)
        if not hasattr(config, "deployment"):
            self._train(actor, config, timeout)
        issued = issue_api_key(actor=actor, name="make run", scopes=["recommend", "ingest", "manage"])
        user = "shopper-0001"
        self.stdout.write("")
        self.stdout.write(f"Portal:    {base_url}/  (login: {DEMO_USERNAME} / {DEMO_PASSWORD})")
        self.stdout.write(
            f"Admin:     {base_url}/admin/  (create an operator: .venv/bin/python manage.py createsuperuser)"
        )
        self.stdout.write(f"API docs:  {base_url}/api/v1/docs/")
        self.stdout.write(f"API key:   {issued.full_key}")
        self.stdout.write(
            f"Try:       curl -H 'Authorization: Api-Key {issued.full_key}' "
            f"'{base_url}/api/v1/models/{DEMO_MODEL}/recommendations?user_id={user}&k=5'"
        )
        self.stdout.write("")

    def _create_shop(self, actor):
        self.stdout.write("Creating the demo shop: catalogue and three months of events…")
        items = demo.catalogue()
        upsert_catalogue_items(actor=actor, items=items)
        dataset = event_stream_dataset(actor.tenant)
        events = demo.events(items)
        for start in range(0, len(events), 1000):
            record_events(actor=actor, events=events[start : start + 1000], dataset=dataset)
        refresh_dataset_stats(dataset)
        self.stdout.write(f"  {len(items)} items, {len(events)} events")
        return create_config(actor=actor, name="Shop recommendations", slug=DEMO_MODEL, dataset=dataset)

    def _train(self, actor, config, timeout):
        run = config.runs.exclude(status__in=["failed", "cancelled"]).order_by("-id").first()
        run = run or request_training(actor=actor, config=config)
        self.stdout.write(f"Training '{config.name}' ({config.recipe}) on the worker…")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = TrainingRun.objects.get(pk=run.pk, tenant_id=run.tenant_id)
            self.stdout.write(f"\r  {run.status:<10} {run.progress:6.0%}  {run.stage:<40}", ending="")
            self.stdout.flush()
            if run.is_finished:
                break
            time.sleep(1)
        self.stdout.write("")
        if run.status != "succeeded":
            raise CommandError(f"The demo training did not succeed ({run.status}): {run.error or 'timed out'}")

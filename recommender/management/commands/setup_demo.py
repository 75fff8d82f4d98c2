"""``manage.py setup_demo``: the demo tenant that ``make run`` shows a new user."""

from django.core.management.base import BaseCommand

from tenants.audit import Actor
from tenants.models import Tenant
from tenants.services import create_tenant, get_or_create_user, issue_api_key

DEMO_SLUG = "demo-shop"
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-password-123"  # noqa: S105 (public demo login, printed by make run)


class Command(BaseCommand):
    help = "Create (once) the demo tenant with its owner, and print how to sign in and call the API."

    def add_arguments(self, parser):
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")

    def handle(self, *args, base_url, **options):
        owner = get_or_create_user(username=DEMO_USERNAME, email="demo@example.com", password=DEMO_PASSWORD)
        tenant = Tenant.objects.filter(slug=DEMO_SLUG).first()
        if tenant is None:
            tenant = create_tenant(name="Demo Shop", slug=DEMO_SLUG, owner=owner)
        # A fresh key each start: keys are shown only once, so an old one cannot be printed again.
        issued = issue_api_key(
            actor=Actor(tenant=tenant, user=owner), name="make run", scopes=["recommend", "ingest", "manage"]
        )
        self.stdout.write("")
        self.stdout.write(f"Portal:    {base_url}/  (login: {DEMO_USERNAME} / {DEMO_PASSWORD})")
        self.stdout.write(f"Admin:     {base_url}/admin/")
        self.stdout.write(f"API docs:  {base_url}/api/v1/docs/")
        self.stdout.write(f"API key:   {issued.full_key}")
        self.stdout.write(f"Try:       curl -H 'Authorization: Api-Key {issued.full_key}' {base_url}/api/v1/tenant")
        self.stdout.write("")

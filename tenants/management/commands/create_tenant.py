"""``manage.py create_tenant``: a tenant, its owner and a first API key, printed once."""

from django.core.management.base import BaseCommand, CommandError

from tenants.audit import Actor
from tenants.services import TenantError, create_tenant, get_or_create_user, issue_api_key


class Command(BaseCommand):
    help = "Create a tenant with an owner and a first API key (the key is printed once)."

    def add_arguments(self, parser):
        parser.add_argument("name", help="The tenant's display name.")
        parser.add_argument("--slug", help="URL-safe identifier (default: derived from the name).")
        parser.add_argument("--owner", required=True, help="Username of the owner (created if missing).")
        parser.add_argument("--email", default="", help="The owner's email, when the owner is created.")
        parser.add_argument("--password", help="The owner's password, when the owner is created.")
        parser.add_argument(
            "--scopes", default="recommend,ingest,manage", help="Comma-separated scopes of the first API key."
        )

    def handle(self, *args, **options):
        owner = get_or_create_user(username=options["owner"], email=options["email"], password=options["password"])
        try:
            tenant = create_tenant(name=options["name"], slug=options["slug"], owner=owner)
            issued = issue_api_key(
                actor=Actor(tenant=tenant, user=owner),
                name="First key",
                scopes=[scope.strip() for scope in options["scopes"].split(",") if scope.strip()],
            )
        except TenantError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Tenant:  {tenant.name} ({tenant.slug})")
        self.stdout.write(f"Owner:   {owner.username}")
        self.stdout.write(f"API key: {issued.full_key}")
        self.stdout.write("Store the key now: it is not shown again.")

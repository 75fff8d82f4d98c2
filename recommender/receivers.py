"""What else goes when an organisation is deleted from the portal."""

from django.db import transaction
from django.dispatch import receiver

from recommender.data.retention import delete_tree
from recommender.training.selectors import configs_of
from recommender.training.services.configs import delete_config
from tenants.accounts.services import tenant_deleting


@receiver(tenant_deleting)
def delete_models(sender, tenant, actor, **kwargs):
    """Delete the tenant's models through the training service, which removes their stored artifacts;
    their datasets, which models protect from deletion, can then go with the tenant."""
    for config in configs_of(tenant):
        delete_config(actor=actor, config=config)


@receiver(tenant_deleting)
def delete_stored_files(sender, tenant, actor, **kwargs):
    """Once the deletion commits, everything under the tenant's storage prefix goes: uploads kept for a
    rerun, batch files, anything a model left."""
    prefix = f"tenants/{int(tenant.pk)}/"
    transaction.on_commit(lambda: delete_tree(prefix))

"""What else goes when an organisation is deleted from the portal."""

from django.dispatch import receiver

from recommender.training.selectors import configs_of
from recommender.training.services.configs import delete_config
from tenants.portal.services import tenant_deleting


@receiver(tenant_deleting)
def delete_models(sender, tenant, actor, **kwargs):
    """Delete the tenant's models through the training service, which removes their stored artifacts;
    their datasets, which models protect from deletion, can then go with the tenant."""
    for config in configs_of(tenant):
        delete_config(actor=actor, config=config)

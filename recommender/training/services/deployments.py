"""Deploying versions (and so rolling back), and the auto-deploy decision after training."""

from typing import Any

from django.db import transaction
from django.utils import timezone

from recommender.ml.metrics import is_better
from tenants import audit

from ..models import AutoDeploy, Deployment, ModelConfig, ModelVersion

# Metrics where a smaller value is better; every other metric is better when larger.


@transaction.atomic
def deploy_version(*, actor: audit.Actor, version: ModelVersion, reason: str = "deployed by request") -> ModelVersion:
    """Make ``version`` the one its config serves; deploying an older version is a rollback.

    ``version.warning`` then says when it scored worse than the version it replaced (else None).

    Serving processes re-read deployments at most LOCAL_CACHE_SECONDS later.
    """
    previous = Deployment.objects.for_tenant(actor.tenant).filter(config_id=version.config_id).first()
    previous_number = previous.version.number if previous else None
    version.warning = worse_than_deployed(version, previous.version if previous else None)
    Deployment.objects.update_or_create(
        tenant=actor.tenant,
        config_id=version.config_id,
        defaults={"version": version, "deployed_at": timezone.now(), "reason": reason},
    )
    action = "model.rolled_back" if previous_number and previous_number > version.number else "model.deployed"
    audit.record(actor, action, version, version=version.number, previous_version=previous_number, reason=reason)
    return version


def _metric_value(metrics: dict[str, Any] | None, name: str) -> float | None:
    value = (metrics or {}).get("metrics", {}).get(name)
    return value if isinstance(value, int | float) else None


def worse_than_deployed(version: ModelVersion, deployed: ModelVersion | None) -> str | None:
    """A sentence when ``version`` scored worse than the ``deployed`` version on its model's metric, else None.

    Versions evaluated on different protocols are not compared (as auto-deploy does not compare them).
    """
    if deployed is None or deployed.pk == version.pk:
        return None
    metric = version.config.auto_deploy_metric
    new_value, old_value = _metric_value(version.metrics, metric), _metric_value(deployed.metrics, metric)
    same_protocol = (version.metrics or {}).get("protocol") == (deployed.metrics or {}).get("protocol")
    if new_value is None or old_value is None or not same_protocol:
        return None
    worse = is_better(metric, old_value, new_value)
    if not worse:
        return None
    return (
        f"v{version.number} is worse than v{deployed.number}, which serves now, on {metric}: "
        f"{new_value:.4f} against {old_value:.4f}."
    )


def auto_deploy_decision(config: ModelConfig, new_version: ModelVersion) -> tuple[bool, str]:
    """Return ``(deploy, reason)`` for a freshly trained version under the config's policy."""
    active = Deployment.objects.for_tenant(config.tenant).filter(config=config).select_related("version").first()
    if active is None:
        return True, "first version of this model: deployed automatically"
    if config.auto_deploy == AutoDeploy.NEVER:
        return False, f"auto-deploy is off; v{active.version.number} keeps serving"
    if config.auto_deploy == AutoDeploy.ALWAYS:
        return True, "auto-deploy is 'always'"
    metric = config.auto_deploy_metric
    new_value = _metric_value(new_version.metrics, metric)
    old_value = _metric_value(active.version.metrics, metric)
    same_protocol = (new_version.metrics or {}).get("protocol") == (active.version.metrics or {}).get("protocol")
    if new_value is None or old_value is None or not same_protocol:
        return False, f"cannot compare {metric} with v{active.version.number} on the same protocol; not deployed"
    better = is_better(metric, new_value, old_value)
    verdict = "better" if better else "not better"
    return better, (
        f"{metric} {new_value:.4f} vs {old_value:.4f} for v{active.version.number}: {verdict}"
        + ("; deployed" if better else "; not deployed")
    )

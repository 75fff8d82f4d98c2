"""Checks of feedback settings and experiment requests, shared by the API's serializers and the portal's forms.

Each raises :class:`core.errors.InvalidInput` naming the field, so both refuse the same things in the same words.
"""

from typing import Any

from core.errors import InvalidInput, first_problem
from recommender.data.models import MAX_EVENT_TYPE_LENGTH
from recommender.training.models import ModelConfig, ModelVersion
from tenants.models import Tenant

MAX_EVENT_TYPES = 20
MAX_ARMS = 10


def check_event_types(*, field: str, event_types: list[str]) -> list[str]:
    """At most ``MAX_EVENT_TYPES`` event types, each as long as a stored event type may be."""
    if len(event_types) > MAX_EVENT_TYPES:
        raise InvalidInput.for_fields({field: f"At most {MAX_EVENT_TYPES} event types, not {len(event_types)}."})
    too_long = [name for name in event_types if len(name) > MAX_EVENT_TYPE_LENGTH]
    if too_long:
        raise InvalidInput.for_fields(
            {field: f"Event types have at most {MAX_EVENT_TYPE_LENGTH} characters: '{too_long[0]}'."}
        )
    return event_types


def resolve_arms(*, tenant: Tenant, model: str, arms: list[dict[str, Any]]) -> tuple[ModelConfig, list[dict[str, Any]]]:
    """The experiment's model and its arms with their model and version found in ``tenant``.

    ``arms``: dicts of name, model (optional: the experiment's), version (a number), split and control. Returns
    the arms as ``start_experiment`` takes them (name, config, version, split, is_control).
    """
    configs = {config.slug: config for config in ModelConfig.objects.for_tenant(tenant)}
    if model not in configs:
        raise InvalidInput.for_fields({"model": f"No model '{model}'."})
    problems, resolved = [], []
    for arm in arms:
        slug = arm.get("model") or model
        found = {}
        if slug not in configs:
            found["model"] = [f"No model '{slug}'."]
        else:
            version = ModelVersion.objects.for_tenant(tenant).filter(config=configs[slug], number=arm["version"])
            version = version.select_related("config").first()
            if version is None:
                found["version"] = [f"Model '{slug}' has no version {arm['version']}."]
            resolved.append({"name": arm["name"], "config": configs[slug], "version": version,
                             "split": arm["split"], "is_control": arm.get("control", False)})  # fmt: skip
        problems.append(found)
    if any(problems):
        # One entry per arm, empty for the good ones, as the API's validation errors nest.
        details = {"arms": problems}
        path, reason = first_problem(details) or ("arms", "an arm is invalid")
        raise InvalidInput(f"{path}: {reason}", details=details)
    return configs[model], resolved

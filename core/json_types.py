"""Values of a JSON body must have the JSON type the OpenAPI schema gives them.

DRF's fields coerce: a string field takes ``0`` as ``"0"``, a boolean field takes ``0``, ``"yes"`` or
``"true"``, an integer field takes ``"10"`` and ``10.0``, a reference takes ``"1"``. That suits text from a
query string or a multipart form (every value is a string there), but in a JSON body it accepts requests
the schema says are invalid, and clients come to rely on it. ``install()`` (called once, from
``TenantsConfig.ready``) makes these fields refuse a JSON value of the wrong type with their usual message;
data from a query string or a form (a ``QueryDict``) is read as before.
"""

from collections.abc import Callable
from typing import Any

from django.http import QueryDict
from rest_framework import fields, relations

# (field, value) -> whether the JSON value has the right type; or, to refuse it, raising its usual message.
Check = Callable[[Any, Any], Any]


def _from_json(field: fields.Field) -> bool:
    data = getattr(field.root, "initial_data", None)
    return data is not None and not isinstance(data, QueryDict)


def _integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _string_choice(field: fields.ChoiceField, value: object) -> bool:
    # Choices keyed by strings (every enum of this API) take strings only; other choices keep DRF's reading.
    return isinstance(value, str) or not all(isinstance(key, str) for key in field.choices)


def _invalid(field: fields.Field, value: object) -> None:
    field.fail("invalid", input=value)


# Field class -> (does this JSON value have the right type?, how to fail otherwise).
CHECKS: dict[type[fields.Field], tuple[Check, Check]] = {
    fields.CharField: (lambda field, value: isinstance(value, str), _invalid),
    fields.BooleanField: (lambda field, value: isinstance(value, bool), _invalid),
    fields.IntegerField: (lambda field, value: _integer(value), _invalid),
    fields.FloatField: (lambda field, value: _integer(value) or isinstance(value, float), _invalid),
    fields.ChoiceField: (_string_choice, lambda field, value: field.fail("invalid_choice", input=value)),
    relations.PrimaryKeyRelatedField: (
        lambda field, value: _integer(value),
        lambda field, value: field.fail("incorrect_type", data_type=type(value).__name__),
    ),
}


def _checked(original: Callable[[Any, Any], Any], accepts: Check, refuse: Check) -> Callable[[Any, Any], Any]:
    def to_internal_value(self: fields.Field, data: Any) -> Any:
        if _from_json(self) and not accepts(self, data):
            refuse(self, data)
        return original(self, data)

    to_internal_value.__doc__ = original.__doc__
    to_internal_value.json_types_original = original  # type: ignore[attr-defined]  # a marker for install()
    return to_internal_value


def install() -> None:
    """Make the fields above check the JSON type of what they read (idempotent)."""
    for cls, (accepts, refuse) in CHECKS.items():
        original = cls.__dict__["to_internal_value"]
        if not hasattr(original, "json_types_original"):
            # Patching the class is the point (mypy refuses assigning to a method).
            cls.to_internal_value = _checked(original, accepts, refuse)  # type: ignore[method-assign,assignment]

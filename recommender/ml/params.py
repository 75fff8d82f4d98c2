"""Declarative recipe parameters and their validation.

Each recipe declares a tuple of :class:`Param`; :func:`validate_params` turns a
user-supplied dict (from JSON, a form or code) into a complete, typed dict or
raises :class:`InvalidParams` naming every bad field at once.  Search-space
specs (``{"min": .., "max": ..}`` or ``{"choices": [..]}``) are accepted when
tuning and resolved later by :mod:`recommender.ml.tuning`.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

from .errors import InvalidParams

PARAM_TYPES = ("int", "float", "choice", "bool", "int_list")
_TRUE_STRINGS = {"true", "1", "yes", "on"}
_FALSE_STRINGS = {"false", "0", "no", "off"}


@dataclass(frozen=True)
class Param:
    """One tunable setting of a recipe."""

    name: str
    type: str
    default: Any
    min: float | None = None
    max: float | None = None
    choices: tuple | None = None
    help: str = ""

    def __post_init__(self) -> None:
        if self.type not in PARAM_TYPES:
            raise ValueError(f"Param {self.name!r}: type must be one of {PARAM_TYPES}, got {self.type!r}")
        if self.type == "choice" and not self.choices:
            raise ValueError(f"Param {self.name!r}: a choice parameter needs choices")
        if self.choices is not None:
            object.__setattr__(self, "choices", tuple(self.choices))
        # A default that fails its own validation is a programming error.
        self.coerce(self.default)

    def to_dict(self) -> dict:
        """JSON-able description for generated API docs and portal forms."""
        default = list(self.default) if self.type == "int_list" else self.default
        return {
            "name": self.name,
            "type": self.type,
            "default": default,
            "min": self.min,
            "max": self.max,
            "choices": list(self.choices) if self.choices is not None else None,
            "help": self.help,
        }

    def coerce(self, value: Any) -> Any:
        """Return ``value`` converted to this parameter's type, or raise ValueError(message)."""
        if self.type == "int":
            return self._coerce_int(value)
        if self.type == "float":
            return self._coerce_float(value)
        if self.type == "bool":
            return _coerce_bool(value)
        if self.type == "choice":
            return self._coerce_choice(value)
        return self._coerce_int_list(value)

    def describe_range(self) -> str:
        if self.min is not None and self.max is not None:
            return f"between {_fmt(self.min)} and {_fmt(self.max)}"
        if self.min is not None:
            return f">= {_fmt(self.min)}"
        if self.max is not None:
            return f"<= {_fmt(self.max)}"
        return ""

    def example_range(self) -> tuple[float, float] | None:
        """A tuning range worth trying for a number: half to twice the default, within the allowed range
        (from the least allowed value to about a quarter of the span when the default is 0). None for others."""
        if self.type not in ("int", "float"):
            return None
        low_bound = self.min if self.min is not None else -math.inf
        high_bound = self.max if self.max is not None else math.inf
        default = float(self.default)
        if default > 0:
            low, high = default / 2, default * 2
        else:
            low = max(low_bound, default)
            span = (high_bound - low) if math.isfinite(high_bound) else 1.0
            high = low + span / 4
        low, high = max(low, low_bound), min(high, high_bound)
        if self.type == "int":
            low, high = math.floor(low), math.ceil(high)
            return (int(low), int(high)) if high > low else None
        low, high = _round_to_one_figure(low), _round_to_one_figure(high)
        return (low, high) if high > low else None

    def _in_range(self, number: float) -> bool:
        return (self.min is None or number >= self.min) and (self.max is None or number <= self.max)

    def _int_message(self, value: Any) -> str:
        return f"must be an integer {self.describe_range()}".rstrip() + f", got {value!r}"

    def _coerce_int(self, value: Any) -> int:
        number = _as_int(value)
        if number is None or not self._in_range(number):
            raise ValueError(self._int_message(value))
        return number

    def _coerce_float(self, value: Any) -> float:
        number = _as_float(value)
        if number is None or not self._in_range(number):
            raise ValueError(f"must be a number {self.describe_range()}".rstrip() + f", got {value!r}")
        return number

    def _coerce_choice(self, value: Any) -> Any:
        choices = self.choices or ()  # never empty for a choice (__post_init__)
        for choice in choices:
            if value == choice or (isinstance(value, str) and value == str(choice)):
                return choice
        options = ", ".join(repr(choice) for choice in choices)
        raise ValueError(f"must be one of {options}, got {value!r}")

    def _coerce_int_list(self, value: Any) -> tuple[int, ...]:
        items = value.split(",") if isinstance(value, str) else value
        message = f"must be a non-empty list of integers {self.describe_range()}".rstrip() + f", got {value!r}"
        if not isinstance(items, (list, tuple)) or not items:
            raise ValueError(message)
        numbers = [_as_int(item.strip() if isinstance(item, str) else item) for item in items]
        valid = [number for number in numbers if number is not None and self._in_range(number)]
        if len(valid) != len(numbers):
            raise ValueError(message)
        return tuple(valid)


def validate_params(declared: tuple[Param, ...], values: dict | None, *, allow_search_space: bool = False) -> dict:
    """Fill defaults and coerce ``values`` against ``declared``; raise InvalidParams on any error.

    With ``allow_search_space`` a value may be a range/choices spec, which is
    checked against the parameter's own bounds and returned unresolved.
    """
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise InvalidParams({"__all__": f"parameters must be an object/dict, got {type(values).__name__}"})
    by_name = {param.name: param for param in declared}
    errors: dict[str, str] = {}
    for name in values:
        if name not in by_name:
            errors[str(name)] = f"unknown parameter; valid parameters: {', '.join(sorted(by_name))}"
    result: dict[str, Any] = {}
    for param in declared:
        value = values.get(param.name, param.default)
        try:
            if allow_search_space and isinstance(value, dict):
                result[param.name] = _validate_search_spec(param, value)
            else:
                result[param.name] = param.coerce(value)
        except ValueError as exc:
            errors[param.name] = str(exc)
    if errors:
        raise InvalidParams(errors)
    return result


def is_search_spec(value: Any) -> bool:
    """True when ``value`` is an unresolved range/choices spec rather than a concrete value."""
    return isinstance(value, dict)


def _validate_search_spec(param: Param, spec: dict) -> dict:
    unknown = set(spec) - {"min", "max", "log", "choices"}
    if unknown:
        raise ValueError(f"search space accepts 'min'/'max'/'log' or 'choices', not {sorted(unknown)}")
    if "choices" in spec:
        if set(spec) != {"choices"}:
            raise ValueError("search space with 'choices' cannot also have 'min'/'max'")
        choices = spec["choices"]
        if not isinstance(choices, list) or not choices:
            raise ValueError("search space 'choices' must be a non-empty list")
        return {"choices": [param.coerce(choice) for choice in choices]}
    if param.type not in ("int", "float"):
        raise ValueError("only int and float parameters take a 'min'/'max' search range; use 'choices'")
    if "min" not in spec or "max" not in spec:
        raise ValueError("search range needs both 'min' and 'max'")
    low, high = param.coerce(spec["min"]), param.coerce(spec["max"])
    if low > high:
        raise ValueError(f"search range 'min' ({_fmt(low)}) must not exceed 'max' ({_fmt(high)})")
    log = _coerce_bool(spec.get("log", False))
    if log and low <= 0:
        raise ValueError("a log-scale search range needs 'min' > 0")
    return {"min": low, "max": high, "log": log}


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real) and float(value).is_integer():
        return int(float(value))
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Real) or (isinstance(value, str) and value.strip()):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _coerce_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE_STRINGS | _FALSE_STRINGS:
        return value.strip().lower() in _TRUE_STRINGS
    raise ValueError(f"must be true or false, got {value!r}")


def _fmt(number: float) -> str:
    return f"{number:g}" if isinstance(number, float) else str(number)


def _round_to_one_figure(number: float) -> float:
    """``0.225`` → ``0.2``, ``912.5`` → ``900``: a number a person would type."""
    if number == 0:
        return 0.0
    digits = -int(math.floor(math.log10(abs(number))))
    return round(number, digits)

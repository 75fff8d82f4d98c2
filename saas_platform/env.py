"""Small helpers that read typed settings from environment variables."""

import os


def env_str(name, default=""):
    """Return the variable as a string, or ``default`` when unset or empty."""
    value = os.environ.get(name, "")
    return value if value != "" else default


def env_bool(name, default=False):
    """Return the variable as a boolean: 1/true/yes/on are true."""
    value = os.environ.get(name, "")
    if value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name, default):
    """Return the variable as an integer."""
    value = os.environ.get(name, "")
    return int(value) if value != "" else default


def env_list(name, default=()):
    """Return a comma-separated variable as a list of stripped, non-empty items."""
    value = os.environ.get(name, "")
    if value == "":
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]

"""Where the command line finds the base URL and key: flags, then the environment, then a config file.

The file is ``$RECSYS_CONFIG``, else ``$XDG_CONFIG_HOME/recsys/config.json``, else
``~/.config/recsys/config.json``; it is written readable by its owner only (0600, in a 0700 folder).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path


def config_path() -> Path:
    explicit = os.environ.get("RECSYS_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "recsys" / "config.json"


def load_config(path: Path | None = None) -> dict[str, str]:
    """The saved settings ({} when there is no file); raises ``PermissionError`` if others may read it."""
    path = path or config_path()
    if not path.exists():
        return {}
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        # An API key readable by other accounts is a leaked key: refuse, as ssh does.
        raise PermissionError(f"{path} is readable by others (mode {mode:o}); run: chmod 600 {path}")
    data = json.loads(path.read_text())
    return {key: str(value) for key, value in data.items() if isinstance(value, (str, int))}


def save_config(values: dict[str, str], path: Path | None = None) -> Path:
    """Write the settings with mode 0600 (the folder 0700), replacing the file atomically."""
    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        json.dump(values, out, indent=2)
        out.write("\n")
    os.chmod(temporary, 0o600)  # the umask cannot widen it, but an old file's mode could linger
    os.replace(temporary, path)
    return path


def resolve(base_url: str | None, api_key: str | None) -> tuple[str | None, str | None]:
    """Flags first, then RECSYS_BASE_URL / RECSYS_API_KEY, then the config file."""
    base_url = base_url or os.environ.get("RECSYS_BASE_URL")
    api_key = api_key or os.environ.get("RECSYS_API_KEY")
    if not (base_url and api_key):
        saved = load_config()
        base_url = base_url or saved.get("base_url")
        api_key = api_key or saved.get("api_key")
    return base_url, api_key

"""Model artifacts in Django's storage: local files by default, S3-compatible when configured.

Paths are built from database ids only, never from user input, so no tenant can
write or read outside its own prefix.
"""

import shutil
import tempfile
from pathlib import Path

from django.core.files import File
from django.core.files.storage import default_storage


def artifact_prefix(run):
    """Where the artifact of ``run`` lives: ``tenants/<tenant>/models/<config>/run-<run>``."""
    return f"tenants/{int(run.tenant_id)}/models/{int(run.config_id)}/run-{int(run.pk)}"


def store_artifact(local_dir, prefix):
    """Copy every file of ``local_dir`` under ``prefix`` in storage; return the bytes stored.

    Anything already under ``prefix`` (a crashed attempt's leftovers) is removed
    first, so the stored artifact is exactly the files of ``local_dir``.
    """
    delete_artifact(prefix)
    total = 0
    for path in sorted(Path(local_dir).rglob("*")):
        if path.is_file():
            name = f"{prefix}/{path.relative_to(local_dir).as_posix()}"
            with path.open("rb") as handle:
                stored_as = default_storage.save(name, File(handle))
            if stored_as != name:
                raise RuntimeError(f"Storage renamed {name} to {stored_as}; refusing a mixed artifact.")
            total += path.stat().st_size
    return total


def delete_artifact(prefix):
    """Remove everything under ``prefix`` (a failed or reaped run leaves no orphan files)."""
    if not default_storage.exists(prefix):
        return
    folders, files = default_storage.listdir(prefix)
    for name in files:
        default_storage.delete(f"{prefix}/{name}")
    for folder in folders:
        delete_artifact(f"{prefix}/{folder}")
    if hasattr(default_storage, "path"):
        shutil.rmtree(default_storage.path(prefix), ignore_errors=True)


def fetch_artifact(prefix, local_dir):
    """Copy an artifact from storage into ``local_dir`` (serving loads it from there)."""
    local_dir = Path(local_dir)
    folders, files = default_storage.listdir(prefix)
    local_dir.mkdir(parents=True, exist_ok=True)
    for name in files:
        with default_storage.open(f"{prefix}/{name}", "rb") as source, (local_dir / name).open("wb") as target:
            shutil.copyfileobj(source, target)
    for folder in folders:
        fetch_artifact(f"{prefix}/{folder}", local_dir / folder)
    return local_dir


def local_artifact_dir(prefix):
    """A local directory holding the artifact: the storage folder itself when local, else a copy."""
    if hasattr(default_storage, "path"):
        try:
            return Path(default_storage.path(prefix))
        except NotImplementedError:
            pass
    return fetch_artifact(prefix, tempfile.mkdtemp(prefix="artifact-"))

"""How long stored files live: uploads, and what erasure and deleting an organisation remove.

An upload is deleted when its import succeeds; a failed import's upload is kept for
``KEPT_UPLOAD_HOURS`` (so the import can be run again) and then swept. Uploads kept count against the
plan's storage quota.
"""

from datetime import timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.utils import timezone

from .models import ImportJob


def delete_upload(path):
    """Delete a stored upload and forget it on every job that names it (a rerun shares its upload)."""
    if not path:
        return
    default_storage.delete(path)
    # cross-tenant: the path is one tenant's (it starts with its folder), whoever sweeps it.
    ImportJob.objects.unscoped().filter(file_path=path).update(file_path="")


def _kept_uploads(tenant=None):
    if tenant is None:
        # cross-tenant: the periodic sweep looks at every tenant's kept uploads.
        return ImportJob.objects.unscoped().exclude(file_path="")
    return ImportJob.objects.for_tenant(tenant).exclude(file_path="")


def stored_upload_bytes(tenant) -> int:
    """Bytes of the tenant's uploads still stored (queued, running, or failed and kept for a rerun)."""
    # A rerun shares its upload: each stored file counts once.
    per_file = dict(_kept_uploads(tenant).order_by().values_list("file_path", "file_size"))
    return sum(per_file.values())


def sweep_kept_uploads(now=None) -> int:
    """Delete the uploads of failed imports kept longer than ``KEPT_UPLOAD_HOURS``; returns how many."""
    cutoff = (now or timezone.now()) - timedelta(hours=settings.PLATFORM["RETENTION"]["KEPT_UPLOAD_HOURS"])
    busy = set(
        _kept_uploads()
        .exclude(status__in=[ImportJob.Status.FAILED, ImportJob.Status.SUCCEEDED])
        .values_list("file_path", flat=True)
    )
    recent = set(_kept_uploads().filter(finished_at__gte=cutoff).values_list("file_path", flat=True))
    expired = set(_kept_uploads().filter(status=ImportJob.Status.FAILED).values_list("file_path", flat=True))
    gone = expired - busy - recent
    for path in gone:
        delete_upload(path)
    return len(gone)


def delete_kept_uploads(tenant) -> int:
    """Delete every upload the tenant still has kept from a failed import (erasure: they may hold the user)."""
    paths = set(_kept_uploads(tenant).filter(status=ImportJob.Status.FAILED).values_list("file_path", flat=True))
    for path in paths:
        delete_upload(path)
    return len(paths)


def delete_tree(prefix):
    """Delete every stored file under ``prefix`` (a folder such as ``tenants/7/``)."""
    prefix = prefix.rstrip("/")
    try:
        folders, files = default_storage.listdir(prefix)
    except (FileNotFoundError, NotADirectoryError):
        return
    for name in files:
        default_storage.delete(f"{prefix}/{name}")
    for folder in folders:
        delete_tree(f"{prefix}/{folder}")
    try:
        default_storage.delete(prefix)  # the empty folder, on storages that have folders
    except OSError:
        pass

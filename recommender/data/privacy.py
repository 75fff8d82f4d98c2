"""Per-tenant secrets: pseudonymised user ids and encrypted sensitive columns.

Each tenant gets a random 32-byte secret on first use, stored encrypted with a
Fernet key derived from ``SECRET_KEY`` (HKDF/SHA-256; keys in
``SECRET_KEY_FALLBACKS`` still decrypt, so the platform secret can be rotated).
From the tenant secret two keys are derived: one HMACs user ids (when the tenant
pseudonymises them) and one encrypts sensitive feature values.

Inside the platform a user is known by its *key*: the raw id, or its pseudonym
when pseudonymisation is on. Events, imports and erasure map raw ids with
:func:`user_key` on arrival; serving must do the same before looking a user up.
"""

import base64
import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from functools import cached_property

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import IntegrityError, transaction

from .models import TenantDataSettings

PSEUDONYM_LENGTH = 32
MASK = "••••"
# How an encrypted value sits in a JSON document: {"$enc": "<Fernet token>"}.
ENCRYPTED_MARKER = "$enc"


def _derive(key_material: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(key_material)


def _platform_fernet() -> MultiFernet:
    """The Fernet that protects tenant secrets, keyed by SECRET_KEY (and its fallbacks, to rotate)."""
    secret_keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return MultiFernet(
        [
            Fernet(base64.urlsafe_b64encode(_derive(key.encode(), b"recommender.data tenant secrets")))
            for key in secret_keys
        ]
    )


@dataclass(frozen=True)
class TenantKeys:
    """What a tenant's secret unlocks: the pseudonym key, the column cipher, and the switch."""

    secret: bytes
    pseudonymize_user_ids: bool

    @cached_property
    def _pseudonym_key(self) -> bytes:
        return _derive(self.secret, b"user id pseudonyms")

    @cached_property
    def _cipher(self) -> Fernet:
        return Fernet(base64.urlsafe_b64encode(_derive(self.secret, b"sensitive columns")))

    def pseudonym(self, raw_user_id: str) -> str:
        digest = hmac.new(self._pseudonym_key, raw_user_id.encode(), hashlib.sha256).hexdigest()
        return digest[:PSEUDONYM_LENGTH]

    def user_key(self, raw_user_id: str) -> str:
        return self.pseudonym(raw_user_id) if self.pseudonymize_user_ids else raw_user_id

    def digest(self, user_key: str) -> str:
        """A keyed digest of a stored user key, for markers that must not hold the id itself."""
        return hmac.new(self._pseudonym_key, b"erased:" + user_key.encode(), hashlib.sha256).hexdigest()

    def encrypt(self, value) -> dict:
        return {ENCRYPTED_MARKER: self._cipher.encrypt(json.dumps(value).encode()).decode()}

    def decrypt(self, value):
        """The plain value of ``value`` when it is an encrypted one; anything else unchanged."""
        if not is_encrypted(value):
            return value
        try:
            return json.loads(self._cipher.decrypt(value[ENCRYPTED_MARKER].encode()))
        except InvalidToken:
            raise ValueError("An encrypted value does not match this tenant's key.") from None

    def decrypt_all(self, document: dict) -> dict:
        return {key: self.decrypt(value) for key, value in document.items()}


def is_encrypted(value) -> bool:
    return isinstance(value, dict) and len(value) == 1 and ENCRYPTED_MARKER in value


def masked(document: dict) -> dict:
    """``document`` with every encrypted value shown as a mask, for admin and portal pages."""
    return {key: MASK if is_encrypted(value) else value for key, value in (document or {}).items()}


def data_settings(tenant) -> TenantDataSettings:
    """The tenant's data settings, created with a fresh secret on first use."""
    found = TenantDataSettings.objects.for_tenant(tenant).first()
    if found is not None:
        return found
    secret = _platform_fernet().encrypt(os.urandom(32)).decode()
    try:
        with transaction.atomic():
            return TenantDataSettings.objects.create(tenant=tenant, encrypted_secret=secret)
    except IntegrityError:  # another process created them first
        return TenantDataSettings.objects.for_tenant(tenant).get()


def tenant_keys(tenant) -> TenantKeys:
    """The tenant's keys, for mapping many ids or values with one database read."""
    found = data_settings(tenant)
    return TenantKeys(
        secret=_platform_fernet().decrypt(found.encrypted_secret.encode()),
        pseudonymize_user_ids=found.pseudonymize_user_ids,
    )


def pseudonymize_user_id(tenant, raw_id: str) -> str:
    """The pseudonym of ``raw_id`` in ``tenant``: HMAC-SHA256 with the tenant's key, hex, 32 characters."""
    return tenant_keys(tenant).pseudonym(str(raw_id))


def user_key(tenant, raw_user_id: str) -> str:
    """The id under which ``raw_user_id`` is stored: its pseudonym when the tenant pseudonymises, else itself."""
    return tenant_keys(tenant).user_key(str(raw_user_id))

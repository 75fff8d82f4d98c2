r"""Generation and hashing of API keys.

A key looks like ``rpk_<prefix>.<secret>``. ``rpk_`` ("recommendation platform
key") lets secret scanners recognise a leaked key by the pattern
``rpk_[A-Za-z0-9]{8}\.[A-Za-z0-9]{32}``; keys issued before it existed have no
``rpk_`` and keep working. The prefix is stored in clear so people can tell keys
apart; only a SHA-256 hash of the whole key, as presented, is stored. Keys carry
about 190 bits of randomness, so a fast hash is safe here (unlike passwords,
they cannot be guessed from a dictionary), and it keeps every API call cheap.
"""

import hashlib
import hmac
import secrets
import string

_ALPHABET = string.ascii_letters + string.digits
_ALPHABET_SET = frozenset(_ALPHABET)
PRODUCT_PREFIX = "rpk_"
PREFIX_LENGTH = 8
SECRET_LENGTH = 32
# What a secret scanner matches (docs/api.md publishes it).
SCANNER_PATTERN = rf"{PRODUCT_PREFIX}[A-Za-z0-9]{{{PREFIX_LENGTH}}}\.[A-Za-z0-9]{{{SECRET_LENGTH}}}"


def _random_string(length):
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def generate_key():
    """Return ``(prefix, full_key)`` for a new API key."""
    prefix = _random_string(PREFIX_LENGTH)
    return prefix, f"{PRODUCT_PREFIX}{prefix}.{_random_string(SECRET_LENGTH)}"


def hash_key(full_key):
    """Return the stored form of a key."""
    return hashlib.sha256(full_key.encode()).hexdigest()


def split_key(full_key):
    """Return the prefix of a well-formed key (with or without the product prefix), or ``None``."""
    prefix, dot, secret = full_key.removeprefix(PRODUCT_PREFIX).partition(".")
    if not dot or len(prefix) != PREFIX_LENGTH or len(secret) != SECRET_LENGTH:
        return None
    if not _ALPHABET_SET.issuperset(prefix + secret):
        return None
    return prefix


def key_matches(full_key, hashed):
    """Compare a presented key with a stored hash in constant time."""
    return hmac.compare_digest(hash_key(full_key), hashed)

"""Generation and hashing of API keys.

A key looks like ``<prefix>.<secret>``. The prefix is stored in clear so people
can tell keys apart; only a SHA-256 hash of the whole key is stored. Keys carry
about 190 bits of randomness, so a fast hash is safe here (unlike passwords,
they cannot be guessed from a dictionary), and it keeps every API call cheap.
"""

import hashlib
import hmac
import secrets
import string

_ALPHABET = string.ascii_letters + string.digits
PREFIX_LENGTH = 8
SECRET_LENGTH = 32


def _random_string(length):
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def generate_key():
    """Return ``(prefix, full_key)`` for a new API key."""
    prefix = _random_string(PREFIX_LENGTH)
    return prefix, f"{prefix}.{_random_string(SECRET_LENGTH)}"


def hash_key(full_key):
    """Return the stored form of a key."""
    return hashlib.sha256(full_key.encode()).hexdigest()


def split_key(full_key):
    """Return the prefix of a well-formed key, or ``None`` if it is malformed."""
    prefix, dot, secret = full_key.partition(".")
    if not dot or len(prefix) != PREFIX_LENGTH or len(secret) != SECRET_LENGTH:
        return None
    if not all(c in _ALPHABET for c in prefix + secret):
        return None
    return prefix


def key_matches(full_key, hashed):
    """Compare a presented key with a stored hash in constant time."""
    return hmac.compare_digest(hash_key(full_key), hashed)

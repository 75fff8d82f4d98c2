"""Fixtures shared by this folder's tests."""

import pytest


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Real hashers take a good part of a second per password on purpose; these tests make many people."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

"""Fixtures shared by this folder's tests."""

import pytest

from .stack import Gunicorn, RedisServer, production_env


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Real hashers take a good part of a second per password on purpose; these tests make many people."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def redis_server(tmp_path):
    """A private ``redis-server`` that a drill may stop and start."""
    server = RedisServer(tmp_path)
    yield server
    server.close()


@pytest.fixture
def web(tmp_path, redis_server, transactional_db):
    """One gunicorn process with the production settings on the drill's Redis."""
    server = Gunicorn(tmp_path, production_env(redis_server.url))
    yield server
    server.stop()

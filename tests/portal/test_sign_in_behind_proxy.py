"""Sign-in throttling behind reverse proxies: failures count against the client's address, never the proxy's."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.cache import cache
from django.test import Client, RequestFactory
from django.urls import reverse

from core.http import client_address
from tenants.accounts import throttling

pytestmark = pytest.mark.django_db

PROXY = "10.0.0.5"
PASSWORD = "correct-horse-battery-staple"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _no_failures_left_over():
    cache.clear()
    yield
    cache.clear()


def _sign_in(username, password, forwarded_for=None, remote_addr=PROXY):
    """Post the sign-in form as a fresh browser; ``forwarded_for`` is the X-Forwarded-For header as received."""
    extra = {"REMOTE_ADDR": remote_addr}
    if forwarded_for is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return Client().post(reverse("login"), {"username": username, "password": password}, **extra)


def _fail_until_locked(username, forwarded_for=None, remote_addr=PROXY):
    for _ in range(throttling.MAX_FAILURES):
        response = _sign_in(username, "wrong", forwarded_for, remote_addr)
        assert "Please enter a correct username and password" in response.content.decode()


def _is_locked_out(response):
    return response.status_code == 200 and "Too many failed sign-ins" in response.content.decode()


def test_behind_a_proxy_one_clients_failures_do_not_lock_out_the_others(tenant_a, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    username = tenant_a.owner.username
    _fail_until_locked(username, forwarded_for="203.0.113.9")

    assert _is_locked_out(_sign_in(username, PASSWORD, forwarded_for="203.0.113.9"))
    # The victim, behind the same load balancer, still signs in.
    assert _sign_in(username, PASSWORD, forwarded_for="198.51.100.20").status_code == 302


def test_a_client_cannot_dodge_the_lock_by_sending_its_own_forwarded_entries(tenant_a, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    username = tenant_a.owner.username
    # The proxy appends the attacker's real address after whatever the attacker sent.
    for forged in ("1.1.1.1", "2.2.2.2", "3.3.3.3, 4.4.4.4", "garbage", "5.5.5.5"):
        _sign_in(username, "wrong", forwarded_for=f"{forged}, 203.0.113.9")
    assert _is_locked_out(_sign_in(username, PASSWORD, forwarded_for="9.9.9.9, 203.0.113.9"))


def test_a_client_cannot_pose_as_its_victim_to_lock_them_out(tenant_a, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    username = tenant_a.owner.username
    _fail_until_locked(username, forwarded_for="198.51.100.20, 203.0.113.9")

    assert _sign_in(username, PASSWORD, forwarded_for="198.51.100.20").status_code == 302


def test_two_proxies_take_the_address_the_outer_one_saw(tenant_a, settings):
    settings.TRUSTED_PROXY_COUNT = 2
    username = tenant_a.owner.username
    # Load balancer appends the client, the inner proxy appends the load balancer (10.0.0.2).
    _fail_until_locked(username, forwarded_for="6.6.6.6, 203.0.113.9, 10.0.0.2")

    assert _is_locked_out(_sign_in(username, PASSWORD, forwarded_for="203.0.113.9, 10.0.0.2"))
    assert _sign_in(username, PASSWORD, forwarded_for="198.51.100.20, 10.0.0.2").status_code == 302


def test_without_a_trusted_proxy_the_header_is_ignored(tenant_a, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    username = tenant_a.owner.username
    for step in range(throttling.MAX_FAILURES):
        _sign_in(username, "wrong", forwarded_for=f"203.0.113.{step}", remote_addr="192.0.2.7")

    # A new header value does not make a new client; another address does.
    assert _is_locked_out(_sign_in(username, PASSWORD, forwarded_for="198.51.100.20", remote_addr="192.0.2.7"))
    assert _sign_in(username, PASSWORD, remote_addr="192.0.2.8").status_code == 302


@pytest.mark.parametrize("garbled", ["not-an-address", "", " , ", "999.1.1.1", "203.0.113.9:4711"])
def test_a_garbled_header_falls_back_to_the_connecting_address(tenant_a, settings, garbled):
    settings.TRUSTED_PROXY_COUNT = 1
    username = tenant_a.owner.username
    _fail_until_locked(username, forwarded_for=garbled)

    assert _is_locked_out(_sign_in(username, PASSWORD, forwarded_for="also garbled"))
    assert _is_locked_out(_sign_in(username, PASSWORD))
    assert _sign_in(username, PASSWORD, forwarded_for="198.51.100.20").status_code == 302


@pytest.mark.parametrize(
    "count, header, expected",
    [
        (0, "203.0.113.9", PROXY),
        (1, None, PROXY),
        (1, "203.0.113.9", "203.0.113.9"),
        (1, " 1.2.3.4 ,203.0.113.9 ", "203.0.113.9"),
        (2, "1.2.3.4, 203.0.113.9, 10.0.0.2", "203.0.113.9"),
        (3, "203.0.113.9, 10.0.0.2", PROXY),  # shorter than the proxies in front: not from them
        (1, "2001:DB8:0:0::1", "2001:db8::1"),
    ],
)
def test_client_address(settings, count, header, expected):
    settings.TRUSTED_PROXY_COUNT = count
    extra = {"REMOTE_ADDR": PROXY} if header is None else {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": header}
    assert client_address(RequestFactory().get("/", **extra)) == expected


def test_a_negative_proxy_count_refuses_to_start():
    env = {**os.environ, "TRUSTED_PROXY_COUNT": "-1"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "TRUSTED_PROXY_COUNT must be 0" in result.stderr

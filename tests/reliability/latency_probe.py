"""A tenant's application asking for recommendations, in a process of its own: ``python -m
tests.reliability.latency_probe BASE KEY SECONDS`` prints each call's seconds as JSON: the
recommendations', and beside each, a ``/health`` call's (one database round trip through the same web
processes and middleware, no tenant work): the bare reference measured in the same seconds.

A process of its own, so what it measures is the platform's answer, not the test process's other
threads (the noisy tenant's requests, polling) holding the GIL between "sent" and "answered".
"""

import json
import sys
import time

import requests

RECOMMEND = "/api/v1/models/recs/recommendations?user_id=u{n}&k=10"


def _timed(session, url):
    started = time.monotonic()
    response = session.get(url, timeout=10)
    if response.status_code != 200:
        raise SystemExit(f"{url}: {response.status_code}: {response.text[:500]}")
    return time.monotonic() - started


def probe(base, key, seconds):
    """Sequential calls, a recommendation then ``/health``, every 20 ms or so, for ``seconds``."""
    session = requests.Session()
    session.headers["Authorization"] = f"Api-Key {key}"
    durations = {"recommend": [], "health": []}
    deadline, n = time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        durations["recommend"].append(_timed(session, base + RECOMMEND.format(n=n % 40)))
        durations["health"].append(_timed(session, base + "/health"))
        n += 1
        time.sleep(0.02)
    return durations


if __name__ == "__main__":
    print(json.dumps(probe(sys.argv[1], sys.argv[2], float(sys.argv[3]))))

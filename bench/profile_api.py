"""Where an authenticated API request spends its time: cProfile over many requests, in one process.

    .venv/bin/python bench/profile_api.py [--keep DIR] [--requests 3000] [--path /api/v1/tenant|recommendations]

``DIR`` is a folder prepared by ``bench/serve.py --keep DIR`` (its database, models
and keys); without it, a throwaway database with one tenant serves the trivial
endpoint. The requests go straight into the WSGI application, as gunicorn would
hand them over, with the production settings: no sockets and no HTTP parsing, so
what is left is the platform's own Python and its round trips to PostgreSQL and
Redis. The bare DRF application (``bench/bare_drf.py``) is timed the same way in
a subprocess, as the reference. Prints microseconds per request for both and the
functions that take the time (own time, and time including callees).
"""

import argparse
import cProfile
import io
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import fresh_database  # noqa: E402
from bench.serve import _environment  # noqa: E402

PROFILE_DB = os.environ.get("BENCH_PROFILE_DATABASE", "bench_profile_api")

DRIVE = """
def drive(application, path, key, users, n, seed=7):
    import random, sys
    rng = random.Random(seed)
    status = []

    def start_response(line, headers, exc_info=None):
        status.append(line)

    for _ in range(n):
        target = path + (rng.choice(users) if users else "")
        route, _, query = target.partition("?")
        environ = {
            "REQUEST_METHOD": "GET", "PATH_INFO": route, "QUERY_STRING": query, "SCRIPT_NAME": "",
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": "127.0.0.1", "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http",
            "wsgi.input": sys.stdin.buffer, "wsgi.errors": sys.stderr, "wsgi.multithread": False,
            "wsgi.multiprocess": True, "wsgi.run_once": False,
        }
        if key:
            environ["HTTP_AUTHORIZATION"] = "Api-Key " + key
        for chunk in application(environ, start_response):
            pass
    return status
"""


def _bare_microseconds(n):
    script = (
        DRIVE
        + f"""
import time
from bench.bare_drf import application
drive(application, "/hello", None, [], 300)
start = time.perf_counter()
drive(application, "/hello", None, [], {n})
print((time.perf_counter() - start) / {n} * 1e6)
"""
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    return float(out.stdout.split()[-1])


def _one_tenant():
    """A throwaway database with one tenant and its key (enough for the trivial endpoint); returns the key."""
    os.environ.update(_environment(tempfile.mkdtemp(prefix="bench-profile-")))
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{PROFILE_DB}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "saas_platform.settings")
    fresh_database(PROFILE_DB)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from tenants.audit import Actor
    from tenants.models import Plan
    from tenants.services import create_tenant, get_or_create_user, issue_api_key

    plan = Plan.objects.create(name="bench", api_requests_per_minute=10_000_000)
    owner = get_or_create_user(username="bench")
    tenant = create_tenant(name="Bench", owner=owner, plan=plan)
    return issue_api_key(actor=Actor(tenant=tenant, user=owner), name="bench", scopes=["manage"]).full_key


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--keep",
        metavar="DIR",
        help="a folder prepared by bench/serve.py --keep (needed for recommendations); without it, a throwaway"
        " database with one tenant",
    )
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--path", default="/api/v1/tenant", help="'recommendations' for the default model's")
    parser.add_argument("--top", type=int, default=30, help="functions listed")
    parser.add_argument("--save", metavar="FILE", help="also write the profile there (pstats format)")
    args = parser.parse_args()

    if args.keep:
        storage = str(Path(args.keep).resolve())
        os.environ.update(_environment(storage))
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "saas_platform.settings")
        key, _, users = json.loads((Path(storage) / "targets.json").read_text())[0]
    else:
        key, users = _one_tenant(), []
    path, sample = args.path, []
    if path == "recommendations":
        path, sample = "/api/v1/models/default/recommendations?k=10&user_id=", users[:2000]

    namespace = {}
    exec(DRIVE, namespace)  # noqa: S102 - the same driver as the bare subprocess
    drive = namespace["drive"]
    from saas_platform.wsgi import application

    status = drive(application, path, key, sample, 300)  # warm: caches, connections, loaded models
    if not all(line.startswith("200") for line in status):
        raise SystemExit(f"{path} did not answer 200: {sorted(set(status))}")
    started = time.perf_counter()
    drive(application, path, key, sample, args.requests)
    platform_us = (time.perf_counter() - started) / args.requests * 1e6
    bare_us = _bare_microseconds(args.requests)

    profile = cProfile.Profile()
    profile.enable()
    drive(application, path, key, sample, args.requests)
    profile.disable()
    if args.save:
        profile.dump_stats(args.save)
    ratio = bare_us / platform_us
    print(f"{path}: {platform_us:.0f} µs per request in-process; bare DRF {bare_us:.0f} µs (ratio {ratio:.2f})")
    print(f"profile over {args.requests} requests (times are totals; divide by the requests for per-request):")
    for order in ("tottime", "cumulative"):
        text = io.StringIO()
        pstats.Stats(profile, stream=text).strip_dirs().sort_stats(order).print_stats(args.top)
        print(text.getvalue().split("\n", 4)[-1])


if __name__ == "__main__":
    main()

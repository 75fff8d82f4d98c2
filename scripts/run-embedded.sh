#!/usr/bin/env bash
# The embedded platform: a Celery worker (with beat) on the file-system broker, the demo
# tenant, and gunicorn in the foreground. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
PORT=${PORT:-8000}
mkdir -p var

$PY -m celery -A saas_platform worker --beat --queues default,training,imports \
  --concurrency 2 --loglevel INFO --logfile var/worker.log --schedule var/celerybeat-schedule &
WORKER_PID=$!
trap 'kill $WORKER_PID 2>/dev/null; wait $WORKER_PID 2>/dev/null' EXIT INT TERM

$PY manage.py setup_demo --base-url "http://127.0.0.1:$PORT"

echo "Serving on http://127.0.0.1:$PORT/ (worker log: var/worker.log). Ctrl-C stops."
OPENBLAS_NUM_THREADS=1 $PY -m gunicorn saas_platform.wsgi:application --bind "127.0.0.1:$PORT" --workers 2 --timeout 120 \
  --access-logfile - --log-level warning

#!/usr/bin/env bash
# The embedded platform: a Celery worker (with beat) on the file-system broker, the demo
# tenant, and gunicorn. One Ctrl-C or one SIGTERM stops everything within a few seconds.
#
# DEBUG is off unless asked for (DEBUG=1 make run): people try this set-up first and sometimes
# expose it, and DEBUG pages list every URL and show settings. Static files are then served by
# WhiteNoise from var/staticfiles. DEMO=0 skips the demo tenant (and its first training).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
PORT=${PORT:-8000}
export VAR_DIR=${VAR_DIR:-$PWD/var}
mkdir -p "$VAR_DIR"

export DEBUG=${DEBUG:-0}
if [ "$DEBUG" = "0" ]; then
  # A key of this installation's own, kept beside its database; plain HTTP on the loopback.
  [ -s "$VAR_DIR/secret_key" ] || (umask 077 && $PY -c "import secrets; print(secrets.token_urlsafe(50))" >"$VAR_DIR/secret_key")
  SECRET_KEY=$(cat "$VAR_DIR/secret_key")
  export SECRET_KEY
  export SECURE_SSL_REDIRECT=${SECURE_SSL_REDIRECT:-0} SESSION_COOKIE_SECURE=${SESSION_COOKIE_SECURE:-0}
  export CSRF_COOKIE_SECURE=${CSRF_COOKIE_SECURE:-0} SECURE_HSTS_SECONDS=${SECURE_HSTS_SECONDS:-0}
  # No mail server here: mails go to the log, their links withheld (EMAIL_BACKEND overrides).
  export EMAIL_CONSOLE_OPT_IN=${EMAIL_CONSOLE_OPT_IN:-1}
fi

$PY manage.py migrate --no-input -v 0
$PY manage.py collectstatic --no-input -v 0

# Each child runs in a session of its own (setsid), so a Ctrl-C reaches only this script, which then
# stops each child's whole process group (Celery's pool, gunicorn's workers) in order.
GROUPS_STARTED=()
DEMO_PID=
stop() {
  trap - INT TERM EXIT
  [ -n "$DEMO_PID" ] && kill -TERM "$DEMO_PID" 2>/dev/null
  for group in "${GROUPS_STARTED[@]}"; do kill -TERM -- "-$group" 2>/dev/null || true; done
  # Celery's warm shutdown waits for running tasks (and its beat has hung there): 6 s, then no more waiting.
  for _ in $(seq 30); do
    alive=0
    for group in "${GROUPS_STARTED[@]}"; do kill -0 -- "-$group" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && exit 0
    sleep 0.2
  done
  for group in "${GROUPS_STARTED[@]}"; do kill -KILL -- "-$group" 2>/dev/null || true; done
  exit 0
}
trap stop INT TERM EXIT

setsid $PY -m celery -A saas_platform worker --beat --queues default,training,imports \
  --concurrency 2 --loglevel INFO --logfile "$VAR_DIR/worker.log" --schedule "$VAR_DIR/celerybeat-schedule" &
GROUPS_STARTED+=($!)

if [ "${DEMO:-1}" != "0" ]; then
  $PY manage.py setup_demo --base-url "http://127.0.0.1:$PORT" &
  DEMO_PID=$!
  wait $DEMO_PID
  DEMO_PID=
fi

echo "Serving on http://127.0.0.1:$PORT/ (DEBUG=$DEBUG; worker log: $VAR_DIR/worker.log). Ctrl-C stops."
OPENBLAS_NUM_THREADS=1 setsid $PY -m gunicorn saas_platform.wsgi:application --bind "127.0.0.1:$PORT" --workers 2 \
  --timeout 120 --access-logfile - --log-level warning &
GROUPS_STARTED+=($!)
# A background child and ``wait``: a signal runs the trap at once, not after gunicorn has exited.
wait -n
stop

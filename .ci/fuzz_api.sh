#!/usr/bin/env bash
# schemathesis against the live OpenAPI schema of the shop served by gunicorn on 127.0.0.1:
# no 500s, every response in the documented shape and status. Bounded: FUZZ_MAX_EXAMPLES per
# operation and FUZZ_MAX_TIME seconds in all. Uses DATABASE_URL when set (CI: its own database),
# otherwise a throw-away SQLite file. Prints how many cases ran.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
work=$(mktemp -d)
port=$($PY -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
export DEBUG=0 SECRET_KEY="fuzz-$(head -c 32 /dev/urandom | base64 | tr -d '/+=')" ALLOWED_HOSTS=127.0.0.1
export PAYMENTS_TEST_WEBHOOK_SECRET="fuzz-$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
export SECURE_SSL_REDIRECT=false LOG_LEVEL=WARNING EMAIL_URL="consolemail://"
export DATABASE_URL="${FUZZ_DATABASE_URL:-sqlite:///${work}/fuzz.sqlite3}"
# The fuzzer is one client sending thousands of requests: lift the rates so it tests the
# endpoints rather than the throttle (429 is covered by the test suite).
export THROTTLE_RATE_USER=100000/minute THROTTLE_RATE_ANON=100000/minute THROTTLE_RATE_LOGIN=100000/minute
export THROTTLE_RATE_PASSWORD_RESET=100000/minute THROTTLE_RATE_SIGNUP=100000/minute

$PY manage.py migrate --noinput -v0
$PY manage.py collectstatic --noinput -v0 >/dev/null
$PY manage.py shell -v0 -c "
from accounts.models import User
if not User.objects.filter(email='fuzz@example.com').exists():
    User.objects.create_user('fuzz@example.com', 'fuzz pass phrase 2026', full_name='Fuzz')
"
# --limit-request-line 0: the fuzzer's huge query strings reach the app (whose answers are what
# the schema documents) instead of being cut off by gunicorn's 414 first.
$PY -m gunicorn shop.wsgi:application --bind "127.0.0.1:${port}" --workers 2 --threads 4 \
    --worker-class gthread --limit-request-line 0 --log-level warning --error-logfile "${work}/gunicorn.log" &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 50); do
    curl -fs "http://127.0.0.1:${port}/healthz" >/dev/null && break
    sleep 0.2
done
token=$(curl -fs -X POST -H "Content-Type: application/json" \
    -d '{"email": "fuzz@example.com", "password": "fuzz pass phrase 2026"}' \
    "http://127.0.0.1:${port}/api/v1/auth/token" | $PY -c "import json, sys; print(json.load(sys.stdin)['access'])")

status=0
.venv/bin/st run "http://127.0.0.1:${port}/api/schema/" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
    --max-examples "${FUZZ_MAX_EXAMPLES:-25}" --max-time "${FUZZ_MAX_TIME:-120}" --seed 2026 \
    --header "Authorization: Bearer ${token}" --exclude-path /api/v1/me --exclude-method DELETE \
    --request-timeout 10 --no-color --report junit --report-dir "${work}/report" || status=$?
$PY - "${work}/report" <<'PYEOF' || true
import sys, pathlib, xml.etree.ElementTree as ET
cases = sum(int(s.get("tests", 0)) for f in pathlib.Path(sys.argv[1]).glob("*.xml") for s in ET.parse(f).iter("testsuite"))
print(f"schemathesis: {cases} operations tested")
PYEOF
if grep -q "Traceback" "${work}/gunicorn.log"; then
    echo "the server logged a traceback:"; cat "${work}/gunicorn.log"; status=1
fi
exit $status

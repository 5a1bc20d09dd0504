#!/usr/bin/env bash
# schemathesis against the live OpenAPI schema of the shop served by gunicorn on 127.0.0.1:
# no 500s, every response in the documented shape and status. Run once per identity (issue 20):
# a customer's JWT, a staff member's JWT (all staff groups), and an API key with each scope, so
# the authenticated endpoints are fuzzed past their permission checks. Bounded: FUZZ_MAX_EXAMPLES
# per operation and FUZZ_MAX_TIME seconds in all (180), shared by the identities. Uses DATABASE_URL when
# set (CI: its own database), otherwise a throw-away SQLite file. Prints how many cases (HTTP
# requests) and operations ran per identity.
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
# The identities: a customer, a staff member in every staff group, and one API key per scope.
$PY manage.py shell -v0 -c "
from django.contrib.auth.models import Group
from accounts.models import User
from accounts.staff import STAFF_GROUPS
from shop.models import API_KEY_SCOPES, ClientAPIKey
if not User.objects.filter(email='fuzz@example.com').exists():
    User.objects.create_user('fuzz@example.com', 'fuzz pass phrase 2026', full_name='Fuzz')
if not User.objects.filter(email='fuzz-staff@example.com').exists():
    staff = User.objects.create_user('fuzz-staff@example.com', 'fuzz pass phrase 2026', full_name='Fuzz Staff', is_staff=True)
    staff.groups.set(Group.objects.filter(name__in=STAFF_GROUPS))
for scope in sorted(API_KEY_SCOPES):
    _, key = ClientAPIKey.objects.create_key(name=f'fuzz {scope}', scopes=[scope])
    print(f'apikey {scope} {key}')
" > "${work}/keys.txt"
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
jwt_for() {  # e-mail -> an access token
    curl -fs -X POST -H "Content-Type: application/json" \
        -d "{\"email\": \"$1\", \"password\": \"fuzz pass phrase 2026\"}" \
        "http://127.0.0.1:${port}/api/v1/auth/token" | $PY -c "import json, sys; print(json.load(sys.stdin)['access'])"
}
identities=("customer-jwt|Authorization: Bearer $(jwt_for fuzz@example.com)"
            "staff-jwt|Authorization: Bearer $(jwt_for fuzz-staff@example.com)")
while read -r _ scope key; do
    identities+=("apikey-${scope}|Authorization: Api-Key ${key}")
done < "${work}/keys.txt"
per_identity=$(( ${FUZZ_MAX_TIME:-180} / ${#identities[@]} ))
status=0
for identity in "${identities[@]}"; do
    name=${identity%%|*}
    [[ "$name" =~ ${FUZZ_IDENTITIES:-.} ]] || continue  # e.g. FUZZ_IDENTITIES=apikey to rerun some
    header=${identity#*|}
    report="${work}/report-${name}"
    # DELETE and /api/v1/me are left out: the fuzzer must not delete the identity it runs as.
    .venv/bin/st run "http://127.0.0.1:${port}/api/schema/" \
        --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
        --max-examples "${FUZZ_MAX_EXAMPLES:-25}" --max-time "${per_identity}" --seed 2026 \
        --header "${header}" --exclude-path /api/v1/me --exclude-method DELETE \
        --request-timeout 10 --no-color --report junit,har --report-dir "${report}" >"${report}.log" 2>&1 || {
        status=1; echo "schemathesis (${name}) failed:"; sed -n '/= FAILURES =/,/= SUMMARY =/p' "${report}.log"; }
    $PY - "${report}" "${name}" <<'PYEOF' || true
import json, pathlib, re, sys, xml.etree.ElementTree as ET
report, name = pathlib.Path(sys.argv[1]), sys.argv[2]
operations = sum(int(s.get("tests", 0)) for f in report.glob("*.xml") for s in ET.parse(f).iter("testsuite"))
generated = re.search(r"(\d+) generated", pathlib.Path(f"{report}.log").read_text())
entries = [e for f in report.glob("har*.json") for e in json.loads(f.read_text())["log"]["entries"]]
errors = sum(1 for e in entries if e["response"]["status"] >= 500)
print(f"schemathesis {name}: {generated.group(1) if generated else '?'} cases generated, {len(entries)} requests "
      f"over {operations} operations, {errors} answered 5xx")
PYEOF
done
if grep -q "Traceback" "${work}/gunicorn.log"; then
    echo "the server logged a traceback:"; cat "${work}/gunicorn.log"; status=1
fi
exit $status

#!/usr/bin/env bash
# A real Prometheus against a live shop (issue 14):
#   1. Debian's `prometheus` package (promtool + the server), installed only if missing;
#   2. `promtool check rules` and `promtool test rules` on deploy/prometheus/;
#   3. gunicorn serving the shop (DEBUG off, METRICS_TOKEN, PROMETHEUS_MULTIPROC_DIR, 2 workers)
#      on a free loopback port, with a small demo catalog and a few pages requested;
#   4. Prometheus on another free loopback port, its own data directory, scraping /metrics with
#      the bearer token and loading alerts.yml; it fails when the target is not up within
#      PROM_MAX_WAIT seconds or when any named metric is missing.
# Uses DATABASE_URL (and DATABASE_REPLICA_URLS, REDIS_URL, CELERY_BROKER_URL) when set, so CI
# scrapes the replica lag and the queue depths too; otherwise a throw-away SQLite file.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
PROM_MAX_WAIT=${PROM_MAX_WAIT:-60}

if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
    echo "installing Debian's prometheus package"
    # No init script may start a system-wide Prometheus while the package installs.
    created_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && created_policy=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    timeout 600 apt-get install -y -q --no-install-recommends prometheus >/dev/null \
        || { timeout 300 apt-get update -q >/dev/null && timeout 600 apt-get install -y -q --no-install-recommends prometheus >/dev/null; }
    [ "$created_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
fi
promtool --version 2>&1 | head -n1

echo "--- promtool check rules / test rules"
promtool check rules deploy/prometheus/alerts.yml
promtool test rules deploy/prometheus/alerts_test.yml

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
free_port() { $PY -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"; }
shop_port=$(free_port)
prom_port=$(free_port)
token="prom-$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"

echo "--- the shop under gunicorn on 127.0.0.1:${shop_port}"
export DEBUG=0 SECRET_KEY="prom-$(head -c 32 /dev/urandom | base64 | tr -d '/+=')" ALLOWED_HOSTS=127.0.0.1
export PAYMENTS_TEST_WEBHOOK_SECRET="prom-$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
export SECURE_SSL_REDIRECT=false LOG_LEVEL=WARNING LOG_FORMAT=json METRICS_TOKEN="$token"
export PROMETHEUS_MULTIPROC_DIR="${work}/multiproc"  # gunicorn.conf.py empties it at start
mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
export DATABASE_URL="${DATABASE_URL:-sqlite:///${work}/shop.sqlite3}"
$PY manage.py migrate --noinput -v0
$PY manage.py load_demo_catalog --products 20 --no-images -v0 >/dev/null
$PY manage.py collectstatic --noinput -v0 >/dev/null
$PY -m gunicorn shop.wsgi:application --bind "127.0.0.1:${shop_port}" --workers 2 --threads 2 \
    --worker-class gthread --log-level warning --error-logfile "${work}/gunicorn.log" &
pids+=($!)
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:${shop_port}/healthz" >/dev/null && break; sleep 0.2; done
# A few pages, so request, database, cache and search series exist in both workers' files.
product=$(curl -fs "http://127.0.0.1:${shop_port}/" | grep -o 'href="/p/[^"]*"' | head -n1 | cut -d'"' -f2 || true)
for _ in 1 2 3; do
    curl -fs -o /dev/null "http://127.0.0.1:${shop_port}/"
    curl -fs -o /dev/null "http://127.0.0.1:${shop_port}/search/?q=a"
    [ -n "$product" ] && curl -fs -o /dev/null "http://127.0.0.1:${shop_port}${product}"
done
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${shop_port}/metrics")
[ "$code" = 404 ] || { echo "/metrics without the token answered $code, not 404"; exit 1; }

echo "--- Prometheus on 127.0.0.1:${prom_port} scraping it"
cat >"${work}/prometheus.yml" <<YAML
global: {scrape_interval: 2s, evaluation_interval: 2s}
rule_files: ["$(pwd)/deploy/prometheus/alerts.yml"]
scrape_configs:
  - job_name: shop
    metrics_path: /metrics
    authorization: {type: Bearer, credentials: "${token}"}
    static_configs: [{targets: ["127.0.0.1:${shop_port}"]}]
YAML
timeout $((PROM_MAX_WAIT + 60)) prometheus --config.file="${work}/prometheus.yml" --storage.tsdb.path="${work}/data" \
    --web.listen-address="127.0.0.1:${prom_port}" --log.level=warn >"${work}/prometheus.log" 2>&1 &
pids+=($!)

query() {  # PromQL -> number of series in the answer
    curl -fsG "http://127.0.0.1:${prom_port}/api/v1/query" --data-urlencode "query=$1" \
        | $PY -c "import json, sys; print(len(json.load(sys.stdin)['data']['result']))" 2>/dev/null || echo 0
}
required=(
    shop_orders_placed_total shop_orders_allocated_total shop_orders_rejected_total shop_orders_authorized_total
    shop_payments_failed_total shop_order_allocation_lag_seconds_count shop_order_authorization_lag_seconds_count
    shop_outbox_pending shop_outbox_oldest_pending_seconds shop_dead_letters shop_payment_breaker_open
    shop_cache_requests_total shop_search_requests_total shop_http_request_duration_seconds_count
    shop_db_query_duration_seconds_count
)
[ -n "${CELERY_BROKER_URL:-}" ] && required+=(shop_celery_queue_length)
[ -n "${DATABASE_REPLICA_URLS:-}" ] && required+=(shop_db_replica_lag_seconds)
# PROM_REQUIRE_ALSO="name ...": more names (to see this script fail on a missing one).
read -r -a also <<<"${PROM_REQUIRE_ALSO:-}"
required+=("${also[@]+"${also[@]}"}")

deadline=$((SECONDS + PROM_MAX_WAIT))
missing=("${required[@]}")
until [ "$(query 'up{job="shop"} == 1')" = 1 ] && [ ${#missing[@]} = 0 ]; do
    if [ $SECONDS -ge $deadline ]; then
        echo "FAILED after ${PROM_MAX_WAIT} s: target up=$(query 'up{job="shop"} == 1'), missing: ${missing[*]:-none}"
        curl -fs "http://127.0.0.1:${prom_port}/api/v1/targets" | head -c 2000; echo
        tail -n 20 "${work}/prometheus.log" "${work}/gunicorn.log"
        exit 1
    fi
    sleep 2
    still=()
    for name in "${missing[@]}"; do [ "$(query "$name")" = 0 ] && still+=("$name"); done
    missing=("${still[@]+"${still[@]}"}")
done
rules=$(curl -fs "http://127.0.0.1:${prom_port}/api/v1/rules" | $PY -c "import json, sys; print(sum(len(g['rules']) for g in json.load(sys.stdin)['data']['groups']))")
echo "Prometheus: target up, ${#required[@]} named metrics present, ${rules} alert rules loaded"
if grep -q "Traceback" "${work}/gunicorn.log"; then
    echo "the server logged a traceback:"; cat "${work}/gunicorn.log"; exit 1
fi

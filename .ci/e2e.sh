#!/usr/bin/env bash
# The browser journey (issue 19; docs/e2e.md), in two parts .ci/run calls as separate steps:
#   bash .ci/e2e.sh install   Debian's chromium (apt-get, only when /usr/bin/chromium is missing)
#                             and axe-core from tests/e2e/package-lock.json (npm ci); idempotent
#   bash .ci/e2e.sh run       the journey at 1366x900 and 390x844 against its own live server on a
#                             fresh SQLite shop; screenshots in e2e-artifacts/; fails past 3 minutes
#                             (E2E_BUDGET_SECONDS), killed past 5
# With no argument: both. Playwright never downloads a browser here: it drives /usr/bin/chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
py="${PYTHON:-.venv/bin/python}"

install() {  # each command checked by hand: a caller's `|| fail` would switch set -e off in here
    if [ ! -x /usr/bin/chromium ]; then
        echo "installing Debian's chromium"
        DEBIAN_FRONTEND=noninteractive timeout 300 apt-get update -qq || return 1
        DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq chromium fonts-dejavu-core >/dev/null || return 1
    fi
    /usr/bin/chromium --version 2>/dev/null | head -n1 || return 1
    (cd tests/e2e && timeout 300 npm ci --no-audit --no-fund --loglevel=error) || return 1
    test -f tests/e2e/node_modules/axe-core/axe.min.js || return 1
}

run() {
    local started=$SECONDS status=0
    # -n0: one process, one live server; every click and expectation waits 10 s at most.
    # SIGINT first: pytest then runs its teardown, which stops the journey's server.
    timeout --signal=INT --kill-after=30 300 "$py" -m pytest -m e2e tests/e2e -n0 -s -q -p no:randomly || status=$?
    local took=$((SECONDS - started))
    echo "browser journey wall time: ${took} s (screenshots in e2e-artifacts/)"
    if [ "$status" -eq 0 ] && [ "$took" -ge "${E2E_BUDGET_SECONDS:-180}" ]; then
        echo "the browser journey took ${took} s, over its budget of ${E2E_BUDGET_SECONDS:-180} s (issue 19)" >&2
        status=1
    fi
    return $status
}

case "${1:-all}" in
    install) install ;;
    run) run ;;
    all) install && run ;;
    *) echo "usage: $0 [install|run]" >&2; exit 2 ;;
esac

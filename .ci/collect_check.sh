#!/usr/bin/env bash
# The suite must collect the same test ids every time: pytest-xdist's workers each collect it and
# abort the run when their lists differ (a test id built from the clock failed 2 CI runs in 3).
# Collect twice, with another hash seed, more than a second apart, and compare.
set -euo pipefail
cd "$(dirname "$0")/.."
py="${PYTHON:-.venv/bin/python}"
first=$(mktemp) second=$(mktemp)
trap 'rm -f "$first" "$second"' EXIT
PYTHONHASHSEED=1 "$py" -m pytest --collect-only -q -p no:randomly >"$first" 2>/dev/null || true
sleep 1.2
PYTHONHASHSEED=2 "$py" -m pytest --collect-only -q -p no:randomly >"$second" 2>/dev/null || true
grep -q "tests collected" "$first" || { echo "collection failed:"; tail -20 "$first"; exit 1; }
changed=$(diff "$first" "$second" | grep '^[<>] tests/' || true)
if [ -z "$changed" ]; then
    echo "collection is stable: $(grep -c '::' "$first") test ids, the same twice"
    exit 0
fi
printf '%s\n' "$changed"
echo "CI FAILED: two collections of the suite gave different test ids (above); a test id or a" >&2
echo "parametrisation depends on the clock or on chance" >&2
exit 1

#!/usr/bin/env bash
# Entrypoint of the postgres-replica service. On first start (empty data directory) it clones
# the primary with pg_basebackup; -R writes standby.signal and primary_conninfo, so the server
# then starts as a hot standby streaming from the primary. Later starts reuse the data directory.
# Finally it hands over to the image's own entrypoint, which drops to the postgres user.
set -euo pipefail

PRIMARY_HOST="${PRIMARY_HOST:-postgres}"
REPLICATION_USER="${REPLICATION_USER:-replicator}"
export PGPASSWORD="${REPLICATION_PASSWORD:?set REPLICATION_PASSWORD}"
: "${PGDATA:?PGDATA is not set}"

mkdir -p "$PGDATA"
chown postgres:postgres "$PGDATA"
chmod 700 "$PGDATA"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    echo "replica: waiting for the primary at ${PRIMARY_HOST}:5432"
    until pg_isready --quiet -h "$PRIMARY_HOST" -p 5432 -U "$REPLICATION_USER"; do
        sleep 1
    done

    attempt=1
    until gosu postgres pg_basebackup -h "$PRIMARY_HOST" -U "$REPLICATION_USER" -D "$PGDATA" -R -X stream; do
        if [ "$attempt" -ge 10 ]; then
            echo "replica: pg_basebackup failed ${attempt} times, giving up" >&2
            exit 1
        fi
        echo "replica: pg_basebackup failed (attempt ${attempt}), retrying" >&2
        # pg_basebackup needs an empty target directory.
        find "$PGDATA" -mindepth 1 -delete
        attempt=$((attempt + 1))
        sleep 2
    done
    echo "replica: base backup complete"
fi

exec docker-entrypoint.sh postgres -c hot_standby=on "$@"

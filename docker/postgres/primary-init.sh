#!/usr/bin/env bash
# Runs once, from /docker-entrypoint-initdb.d/, when the primary's data directory is first
# initialised (the official postgres image runs it as the postgres user against a server that
# listens on the Unix socket only). It creates the role the replica streams WAL with and lets
# that role make replication connections over the compose network.
set -euo pipefail

REPLICATION_USER="${REPLICATION_USER:-replicator}"
REPLICATION_PASSWORD="${REPLICATION_PASSWORD:?set REPLICATION_PASSWORD}"

psql -v ON_ERROR_STOP=1 \
    --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    --set repl_user="$REPLICATION_USER" --set repl_password="$REPLICATION_PASSWORD" <<'EOSQL'
CREATE ROLE :"repl_user" WITH REPLICATION LOGIN PASSWORD :'repl_password';
EOSQL

# "all" in a pg_hba database column never matches replication connections, so the image's
# catch-all line does not cover them: add one for the replication role. The file is read when
# the real server starts after initialisation.
echo "host replication ${REPLICATION_USER} all scram-sha-256" >> "$PGDATA/pg_hba.conf"

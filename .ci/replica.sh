#!/usr/bin/env bash
# A real streaming replica for the read-replica router's tests (bash .ci/replica.sh, as root).
#
# Makes sure the local PostgreSQL cluster "replica" answers on 127.0.0.1:5433 as a hot standby
# streaming from the cluster "main" on 127.0.0.1:5432 (Debian's pg_createcluster layout):
#   1. main accepts replication connections from 127.0.0.1 (a trust line in its pg_hba.conf),
#   2. the cluster "replica" exists on port 5433 with main's authentication rules,
#   3. its data directory is a pg_basebackup of main (-R writes standby.signal and the conninfo),
#   4. it runs, is in recovery and its WAL receiver is streaming.
# Idempotent: a replica that already streams is left alone. REPLICA_REBUILD=1 throws the replica's
# data away and takes a fresh base backup (a standby that fell too far behind never catches up).
# Any step that does not work stops the script with a message (CI must not pass by skipping).
set -euo pipefail

version="${PG_VERSION:-$(ls /etc/postgresql | sort -V | tail -n1)}"
primary_port=5432
replica_port=5433
cluster=replica
bin="/usr/lib/postgresql/${version}/bin"
primary_conf="/etc/postgresql/${version}/main"
replica_conf="/etc/postgresql/${version}/${cluster}"
data_dir="/var/lib/postgresql/${version}/${cluster}"

fail() { printf 'replica.sh FAILED: %s\n' "$*" >&2; exit 1; }
primary_sql() { psql -h 127.0.0.1 -p "$primary_port" -U postgres -d postgres -Atc "$1"; }
replica_sql() { psql -h 127.0.0.1 -p "$replica_port" -U postgres -d postgres -Atc "$1" 2>/dev/null; }
streaming() {
    [ "$(replica_sql 'SELECT pg_is_in_recovery()')" = "t" ] &&
        [ "$(replica_sql 'SELECT status FROM pg_stat_wal_receiver')" = "streaming" ]
}
cluster_exists() { pg_lsclusters -h | awk -v v="$version" -v c="$cluster" '$1 == v && $2 == c {found=1} END {exit !found}'; }
cluster_online() { pg_lsclusters -h | awk -v v="$version" -v c="$cluster" '$1 == v && $2 == c && $4 ~ /online/ {found=1} END {exit !found}'; }
log_tail() { tail -n 20 "/var/log/postgresql/postgresql-${version}-${cluster}.log" >&2 2>/dev/null || true; }

[ "$(id -u)" = 0 ] || fail "run as root (pg_createcluster and the postgres user's files)"
[ -x "$bin/pg_basebackup" ] || fail "no PostgreSQL ${version} binaries in $bin"
pg_isready -q -h 127.0.0.1 -p "$primary_port" -t 30 || fail "the primary does not answer on 127.0.0.1:${primary_port}"

if [ "${REPLICA_REBUILD:-0}" != "1" ] && streaming; then
    echo "replica: ${version}/${cluster} on 127.0.0.1:${replica_port} is already streaming from main"
    exit 0
fi

# 1. The primary must be able to feed a standby and accept replication connections from 127.0.0.1.
wal_level=$(primary_sql "SHOW wal_level")
[ "$wal_level" != "minimal" ] || fail "main has wal_level=minimal; set it to replica and restart main"
[ "$(primary_sql "SHOW max_wal_senders")" -gt 0 ] || fail "main has max_wal_senders=0"
hba="${primary_conf}/pg_hba.conf"
if ! grep -Eq '^[[:space:]]*host[[:space:]]+replication[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
    echo "replica: allowing replication connections from 127.0.0.1 in $hba"
    printf '\n# Added by .ci/replica.sh: the local streaming replica on port %s\nhost replication all 127.0.0.1/32 trust\n' \
        "$replica_port" >>"$hba"
    pg_ctlcluster --skip-systemctl-redirect "$version" main reload
    sleep 1
fi
psql "host=127.0.0.1 port=${primary_port} user=postgres replication=true" -Atc "IDENTIFY_SYSTEM" >/dev/null ||
    fail "main refuses replication connections from 127.0.0.1 (an earlier line of $hba wins?)"

# 2. The cluster, with main's authentication rules and the settings a hot standby must match.
if ! cluster_exists; then
    echo "replica: creating cluster ${version}/${cluster} on port ${replica_port}"
    pg_createcluster "$version" "$cluster" -p "$replica_port" >/dev/null
fi
install -o postgres -g postgres -m 0640 "$hba" "${replica_conf}/pg_hba.conf"
mkdir -p "${replica_conf}/conf.d"
{
    echo "# Written by .ci/replica.sh"
    echo "listen_addresses = '127.0.0.1'"
    echo "port = ${replica_port}"
    echo "hot_standby = on"
    echo "hot_standby_feedback = on"
    # A hot standby refuses to start when these are lower than on its primary.
    for setting in max_connections max_worker_processes max_wal_senders max_prepared_transactions max_locks_per_transaction; do
        echo "${setting} = $(primary_sql "SHOW ${setting}")"
    done
} >"${replica_conf}/conf.d/90-replica.conf"
chown -R postgres:postgres "${replica_conf}/conf.d"

# 3. A base backup of main, unless the data directory already is a standby of it.
if [ "${REPLICA_REBUILD:-0}" = "1" ] || [ ! -f "${data_dir}/standby.signal" ]; then
    if cluster_online; then
        pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" stop -m fast
    fi
    echo "replica: taking a base backup of main into ${data_dir}"
    # Empty the directory rather than remove it: its parent may belong to root.
    mkdir -p "$data_dir"
    find "$data_dir" -mindepth 1 -delete
    chown postgres:postgres "$data_dir"
    chmod 0700 "$data_dir"
    runuser -u postgres -- "$bin/pg_basebackup" -h 127.0.0.1 -p "$primary_port" -U postgres \
        -D "$data_dir" -R -X stream --checkpoint=fast ||
        fail "pg_basebackup from 127.0.0.1:${primary_port} did not complete"
    [ -f "${data_dir}/standby.signal" ] || fail "the base backup has no standby.signal (pg_basebackup -R)"
fi

# 4. Start it (or restart it, so the configuration above applies) and wait until it streams.
if cluster_online; then
    pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" restart -m fast || { log_tail; fail "the replica did not restart"; }
else
    pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" start || { log_tail; fail "the replica did not start"; }
fi
deadline=$((SECONDS + 60))
until streaming; do
    if [ $SECONDS -ge $deadline ]; then
        log_tail
        fail "the replica on 127.0.0.1:${replica_port} is not a streaming standby after 60 s (REPLICA_REBUILD=1 takes a fresh base backup)"
    fi
    sleep 1
done
echo "replica: ${version}/${cluster} on 127.0.0.1:${replica_port} is streaming from main"

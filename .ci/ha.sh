#!/usr/bin/env bash
# A highly available PostgreSQL on this machine, on pg_auto_failover (Debian's
# postgresql-15-auto-failover): a monitor, a primary and a synchronous standby, each its own
# data directory and loopback port, each node run by its own `pg_autoctl run` in its own process
# group (so a drill can lose a whole node, keeper included, as a machine would be lost).
#
#   bash .ci/ha.sh up                 start (idempotent); prints the multi-host DATABASE_URL
#   bash .ci/ha.sh url                the multi-host DATABASE_URL
#   bash .ci/ha.sh state              pg_autoctl show state
#   bash .ci/ha.sh primary            the name of the node that is primary now (node1 | node2)
#   bash .ci/ha.sh kill NODE          SIGKILL the node's whole process group (keeper + postgres)
#   bash .ci/ha.sh wait-primary NODE  wait until NODE is the only writable primary
#   bash .ci/ha.sh down               stop everything and delete the data directories
#
# Runs as root (CI) or as postgres; PostgreSQL and its keepers always run as the postgres user.
# HA_DIR (default /tmp/shop-ha) and HA_PORT_BASE (default 6100: monitor 6100, nodes 6101/6102)
# place it; HA_DBNAME (default shop_ha) is the application database.
set -euo pipefail

ha_dir="${HA_DIR:-/tmp/shop-ha}"
base="${HA_PORT_BASE:-6100}"
dbname="${HA_DBNAME:-shop_ha}"
version="${PG_VERSION:-$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)}"
version="${version:-15}"
export PATH="/usr/lib/postgresql/${version}/bin:$PATH"
monitor_port=$base
declare -A node_port=([node1]=$((base + 1)) [node2]=$((base + 2)))
monitor_url="postgres://autoctl_node@127.0.0.1:${monitor_port}/pg_auto_failover?sslmode=disable"

fail() { printf 'ha.sh FAILED: %s\n' "$*" >&2; exit 1; }
# pg_autoctl keeps its configuration and state under XDG directories: inside ha_dir, so that
# `down` forgets a cluster whole and a new one never meets a stale node's state.
xdg=(XDG_CONFIG_HOME="$ha_dir/xdg/config" XDG_DATA_HOME="$ha_dir/xdg/data" XDG_RUNTIME_DIR="$ha_dir/xdg/run")
as_postgres() {
    if [ "$(id -un)" = postgres ]; then env PATH="$PATH" "${xdg[@]}" "$@"
    else runuser -u postgres -- env PATH="$PATH" "${xdg[@]}" "$@"; fi
}
sql() {  # port, sql
    psql -h 127.0.0.1 -p "$1" -U postgres -d postgres -XAtqc "$2" 2>/dev/null
}
url() {
    echo "postgres://postgres@127.0.0.1:${node_port[node1]},127.0.0.1:${node_port[node2]}/${dbname}?target_session_attrs=read-write"
}
running() { [ -f "$ha_dir/$1.pid" ] && kill -0 "$(cat "$ha_dir/$1.pid")" 2>/dev/null; }

start_keeper() {  # name
    local name=$1
    running "$name" && return 0
    # setsid: the keeper and the postgres it starts share one new process group (the "machine").
    setsid runuser -u postgres -- env PATH="$PATH" "${xdg[@]}" \
        pg_autoctl run --pgdata "$ha_dir/$name" >>"$ha_dir/$name.log" 2>&1 < /dev/null &
    echo $! >"$ha_dir/$name.pid"
}

ensure_installed() {
    command -v pg_autoctl >/dev/null && return 0
    [ "$(id -u)" = 0 ] || fail "pg_autoctl is not installed (apt-get install postgresql-${version}-auto-failover)"
    echo "ha: installing pg_auto_failover"
    (apt-get install -y -qq "postgresql-${version}-auto-failover" >/dev/null 2>&1 ||
        { apt-get update -qq >/dev/null && apt-get install -y -qq "postgresql-${version}-auto-failover" >/dev/null; }) ||
        fail "cannot install postgresql-${version}-auto-failover"
}

wait_until() {  # seconds, description, command...
    local limit=$1 deadline=$((SECONDS + $1)) what=$2; shift 2
    until "$@"; do
        [ $SECONDS -ge $deadline ] && fail "timed out after ${limit}s waiting for $what"
        sleep 0.5
    done
}

node_state() {  # name -> reported state from the monitor
    psql -h 127.0.0.1 -p "$monitor_port" -U postgres -d pg_auto_failover -XAtqc \
        "SELECT reportedstate FROM pgautofailover.node WHERE nodename = '$1'" 2>/dev/null || true
}
primary_name() {
    local n
    for n in node1 node2; do
        # Writable, not only promoted: a standby being promoted stays read-only until the monitor
        # knows the old primary is gone (primary_demote_timeout), and libpq's
        # target_session_attrs=read-write skips it until then too.
        [ "$(sql "${node_port[$n]}" "SELECT NOT pg_is_in_recovery() AND current_setting('transaction_read_only') = 'off'")" = "t" ] &&
            { echo "$n"; return 0; }
    done
    return 1
}
monitor_up() { [ "$(sql "$monitor_port" "SELECT 1")" = 1 ]; }
joined() {  # name: the node runs in a state it can serve from
    case "$(node_state "$1")" in single | primary | secondary | wait_primary) return 0 ;; *) return 1 ;; esac
}
sync_on() {  # port: the primary waits for a standby on commit
    [ -n "$(sql "$1" 'SHOW synchronous_standby_names')" ]
}
is_primary() { [ "$(primary_name)" = "$1" ]; }
healthy_pair() {
    local a b
    a=$(node_state node1); b=$(node_state node2)
    [[ "$a $b" == "primary secondary" || "$a $b" == "secondary primary" ]]
}

up() {
    ensure_installed
    mkdir -p "$ha_dir/xdg/config" "$ha_dir/xdg/data" "$ha_dir/xdg/run"
    chmod 700 "$ha_dir/xdg/run"; chown -R postgres: "$ha_dir"
    if [ ! -f "$ha_dir/monitor/postgresql.conf" ]; then
        as_postgres pg_autoctl create monitor --pgdata "$ha_dir/monitor" --pgport "$monitor_port" \
            --hostname 127.0.0.1 --auth trust --no-ssl >>"$ha_dir/monitor.log" 2>&1 ||
            fail "cannot create the monitor (see $ha_dir/monitor.log)"
    fi
    start_keeper monitor
    wait_until 60 "the monitor" monitor_up
    # Detect a lost node in seconds rather than the default ~30 s (a drill, and a shop, want fast).
    local setting
    for setting in health_check_period=1000 health_check_timeout=1000 health_check_max_retries=1 \
        health_check_retry_delay=500 node_considered_unhealthy_timeout=4000 primary_demote_timeout=8000; do
        # ALTER SYSTEM cannot share a transaction: one statement per call.
        sql "$monitor_port" "ALTER SYSTEM SET pgautofailover.${setting%%=*} = ${setting#*=}" >/dev/null ||
            fail "cannot set pgautofailover.${setting%%=*} on the monitor"
    done
    sql "$monitor_port" "SELECT pg_reload_conf()" >/dev/null
    local name
    for name in node1 node2; do
        if [ ! -f "$ha_dir/$name/postgresql.conf" ]; then
            as_postgres pg_autoctl create postgres --pgdata "$ha_dir/$name" --pgport "${node_port[$name]}" \
                --pghost 127.0.0.1 --hostname 127.0.0.1 --name "$name" --dbname "$dbname" --username postgres \
                --monitor "$monitor_url" --auth trust --no-ssl >>"$ha_dir/$name.log" 2>&1 ||
                fail "cannot create $name (see $ha_dir/$name.log)"
            # The keeper's own view of a partition, and how long it waits on a lost monitor.
            as_postgres pg_autoctl config set --pgdata "$ha_dir/$name" timeout.network_partition_timeout 5 >/dev/null
        fi
        start_keeper "$name"
        # node2 must be created after node1 is primary (it clones it with pg_basebackup).
        wait_until 120 "$name to join" joined "$name"
    done
    wait_until 180 "a primary and a synchronous secondary" healthy_pair
    local p; p=$(primary_name) || fail "no writable node"
    wait_until 30 "synchronous replication on the primary" sync_on "${node_port[$p]}"
    echo "ha: primary $p, synchronous_standby_names = $(sql "${node_port[$p]}" 'SHOW synchronous_standby_names')"
    url
}

kill_node() {  # name: SIGKILL the whole process group of that node (keeper and postgres)
    local name=$1 pid
    pid=$(cat "$ha_dir/$name.pid" 2>/dev/null) || fail "no pid for $name"
    kill -KILL -- "-$pid" 2>/dev/null || true
    # postgres children re-parented outside the group (none expected) and the postmaster itself
    local pm; pm=$(head -n1 "$ha_dir/$name/postmaster.pid" 2>/dev/null || true)
    [ -n "$pm" ] && kill -KILL "$pm" 2>/dev/null || true
    rm -f "$ha_dir/$name.pid"
}

down() {
    local name
    for name in node2 node1 monitor; do
        [ -f "$ha_dir/$name.pid" ] && kill_node "$name"
    done
    pkill -KILL -f "pg_autoctl .*--pgdata $ha_dir" 2>/dev/null || true
    pkill -KILL -f "postgres -D $ha_dir" 2>/dev/null || true
    sleep 0.5
    rm -rf "$ha_dir"
}

case "${1:-}" in
    up) up ;;
    url) url ;;
    state) as_postgres pg_autoctl show state --pgdata "$ha_dir/monitor" ;;
    primary) primary_name ;;
    kill) kill_node "${2:?node name}" ;;
    wait-primary) wait_until "${3:-120}" "${2:?node name} to be primary" is_primary "${2:?node name}" ;;
    down) down ;;
    *) sed -n '2,17p' "$0"; exit 2 ;;
esac

#!/usr/bin/env bash
# Sentinel failover, end to end, on one machine over loopback: a corekv master with
# two replicas, watched by three unmodified `redis-sentinel` processes.
#
#   1. discovery: every sentinel finds both replicas and the other two sentinels;
#   2. the master is killed (SIGKILL) under a write load that finds the master through
#      Sentinel and confirms each batch with `WAIT 1`; a replica is promoted, the
#      other follows it (partial resync), and every acknowledged write is checked on
#      the new master;
#   3. the old master is restarted and Sentinel turns it into a replica;
#   4. `SENTINEL FAILOVER` swaps the roles back while the load runs, again with every
#      acknowledged write checked.
#
# Each step is logged with the time since the script started. Everything runs in a
# temporary directory, removed at the end (kept with KEEP=1).
#
# Usage: deploy/sentinel-demo.sh
# Environment: COREKV_SERVER (default: target/release/corekv-server, then
# target/debug/corekv-server, then corekv-server on PATH), SHARDS (4, or the number
# of CPUs if fewer: three servers share the machine), BASE_PORT
# (17400: servers on BASE_PORT..+2, sentinels on BASE_PORT+10..+12),
# DOWN_AFTER_MS (1000), FAILOVER_TIMEOUT_MS (3000).
set -euo pipefail

cpus=$(nproc)
SHARDS=${SHARDS:-$(( cpus < 4 ? cpus : 4 ))}
BASE_PORT=${BASE_PORT:-17400}
DOWN_AFTER_MS=${DOWN_AFTER_MS:-1000}
FAILOVER_TIMEOUT_MS=${FAILOVER_TIMEOUT_MS:-3000}
NAME=mymaster
QUORUM=2
# Writes per batch of the load; each batch ends with WAIT 1 <this many ms>.
BATCH=50
WAIT_MS=1000
# Longest wait for any one step.
STEP_TIMEOUT_S=40

here=$(cd "$(dirname "$0")/.." && pwd)
server=${COREKV_SERVER:-}
if [[ -z $server ]]; then
    for candidate in "$here/target/release/corekv-server" "$here/target/debug/corekv-server"; do
        if [[ -x $candidate ]]; then server=$candidate; break; fi
    done
fi
server=${server:-$(command -v corekv-server || true)}
for tool in "$server" redis-sentinel redis-cli; do
    if [[ -z $tool ]] || ! command -v "$tool" >/dev/null; then
        echo "missing: ${tool:-corekv-server} (build it with cargo build --release -p corekv-server;" \
            "apt-get install redis-sentinel redis-tools)" >&2
        exit 1
    fi
done

work=$(mktemp -d -t corekv-sentinel-demo.XXXXXX)
started=$(date +%s%N)
declare -A pids=()
load_pid=""

log() { printf '[%7.3f s] %s\n' "$(( ($(date +%s%N) - started) / 1000000 ))e-3" "$*"; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

cleanup() {
    [[ -n $load_pid ]] && kill "$load_pid" 2>/dev/null || true
    for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [[ ${KEEP:-0} == 1 ]]; then echo "kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

cli() { redis-cli -h 127.0.0.1 -p "$1" "${@:2}"; }
field() { cli "$1" info replication 2>/dev/null | tr -d '\r' | sed -n "s/^$2://p"; }

# Polls the shell condition "$@" every 50 ms; fails the demo after STEP_TIMEOUT_S.
wait_for() {
    local what=$1; shift
    local deadline=$(( $(date +%s) + STEP_TIMEOUT_S ))
    until "$@" >/dev/null 2>&1; do
        if (( $(date +%s) >= deadline )); then log "FAILED: $what"; exit 1; fi
        sleep 0.05
    done
}

start_server() { # index [args...]
    local i=$1; shift
    local port=$((BASE_PORT + i))
    "$server" --port "$port" --dir "$work/server$i" --shards "$SHARDS" \
        --replica-serve-reads yes "$@" >>"$work/server$i.log" 2>&1 &
    pids[server$i]=$!
    disown "$!"
    wait_for "server $port answers" cli "$port" ping
}

start_sentinel() { # index
    local i=$1 port=$((BASE_PORT + 10 + i))
    cat >"$work/sentinel$i.conf" <<EOF
port $port
bind 127.0.0.1
daemonize no
dir $work
logfile $work/sentinel$i.log
sentinel monitor $NAME 127.0.0.1 $BASE_PORT $QUORUM
sentinel down-after-milliseconds $NAME $DOWN_AFTER_MS
sentinel failover-timeout $NAME $FAILOVER_TIMEOUT_MS
sentinel parallel-syncs $NAME 1
EOF
    redis-sentinel "$work/sentinel$i.conf" &
    pids[sentinel$i]=$!
    disown "$!"
    wait_for "sentinel $port answers" cli "$port" ping
}

master_port() { cli $((BASE_PORT + 10 + ${1:-0})) sentinel get-master-addr-by-name $NAME 2>/dev/null | tail -1; }
sentinel_field() { cli $((BASE_PORT + 10)) sentinel master $NAME | paste - - | sed -n "s/^$1\t//p"; }
knows_everyone() { [[ $(sentinel_field num-slaves) == 2 && $(sentinel_field num-other-sentinels) == 2 ]]; }
follows() { # master replica: the link is up
    [[ $(field "$2" master_port) == "$1" && $(field "$2" master_link_status) == up ]]
}
in_sync() { # master replica: and everything is applied
    [[ $(field "$2" master_port) == "$1" && $(field "$2" master_link_status) == up &&
        $(field "$2" slave_repl_offset) == $(field "$1" master_repl_offset) ]]
}

# The load: batches of SETs on the master Sentinel names, each confirmed by WAIT 1.
# Acknowledged key numbers go to $work/acked, one batch start per line.
load() {
    local n=0 s=0
    while true; do
        local port
        port=$(master_port $((s++ % 3))) || true
        [[ -z $port ]] && { sleep 0.05; continue; }
        local replies
        replies=$({ for ((k = n; k < n + BATCH; k++)); do echo "SET demo:$k $k"; done
            echo "WAIT 1 $WAIT_MS"; } | redis-cli -h 127.0.0.1 -p "$port" 2>/dev/null) || true
        if [[ $(grep -c '^OK$' <<<"$replies") == "$BATCH" && $(tail -1 <<<"$replies") =~ ^[1-9] ]]; then
            echo "$n" >>"$work/acked"
            echo "$(now_ms) ok" >>"$work/load.log"
        else
            echo "$(now_ms) failed" >>"$work/load.log"
            sleep 0.02
        fi
        n=$((n + BATCH))
    done
}

# Checks every acknowledged write on the server on port $1.
check_acked() {
    local port=$1 batches=0 missing=0
    while read -r first; do
        local keys=()
        for ((k = first; k < first + BATCH; k++)); do keys+=("demo:$k"); done
        local held
        held=$(cli "$port" exists "${keys[@]}")
        missing=$((missing + BATCH - held))
        batches=$((batches + 1))
    done <"$work/acked"
    log "acknowledged writes: $((batches * BATCH)), missing on the master at $port: $missing"
    [[ $missing == 0 ]] || { log "FAILED: acknowledged writes lost"; exit 1; }
}

log "corekv: $server ($SHARDS shards); work dir $work"
start_server 0
start_server 1 --replicaof "127.0.0.1 $BASE_PORT"
start_server 2 --replicaof "127.0.0.1 $BASE_PORT"
wait_for "replicas in sync" in_sync "$BASE_PORT" $((BASE_PORT + 1))
wait_for "replicas in sync" in_sync "$BASE_PORT" $((BASE_PORT + 2))
log "master :$BASE_PORT, replicas :$((BASE_PORT + 1)) :$((BASE_PORT + 2)) in sync"
for i in 0 1 2; do start_sentinel "$i"; done
wait_for "sentinels discover everyone" knows_everyone
log "sentinels :$((BASE_PORT + 10))-:$((BASE_PORT + 12)) know 2 replicas and 2 other sentinels;" \
    "master by name: :$(master_port)"

load &
load_pid=$!
sleep 2
old=$BASE_PORT
log "--- SIGKILL the master :$old under load ($(wc -l <"$work/acked") batches acknowledged)"
killed=$(now_ms)
kill -9 "${pids[server0]}"
unset 'pids[server0]'
wait_for "a new master" bash -c "[[ \$(redis-cli -p $((BASE_PORT + 10)) sentinel get-master-addr-by-name $NAME | tail -1) != $old ]]"
new=$(master_port)
log "promoted :$new after $(( $(now_ms) - killed )) ms (down-after-milliseconds $DOWN_AFTER_MS)"
grep -h -E '\+sdown master|\+odown|\+switch-master' "$work/sentinel0.log" | sed 's/^/    sentinel0: /'
other=$(( new == BASE_PORT + 1 ? BASE_PORT + 2 : BASE_PORT + 1 ))
wait_for "the other replica follows" follows "$new" "$other"
log "replica :$other follows :$new (full syncs $(field "$other" replica_full_syncs)," \
    "partial syncs $(field "$other" replica_partial_syncs): one partial resync per shard)"
back=$(awk -v t="$killed" '$1 > t && $2 == "ok" { print $1; exit }' "$work/load.log" || true)
while [[ -z $back ]]; do
    sleep 0.1
    back=$(awk -v t="$killed" '$1 > t && $2 == "ok" { print $1; exit }' "$work/load.log")
done
log "the load writes again $((back - killed)) ms after the kill"
kill "$load_pid"; wait "$load_pid" 2>/dev/null || true; load_pid=""
check_acked "$new"

log "--- restart the old master :$old"
restarted=$(now_ms)
start_server 0
wait_for "the old master becomes a replica" in_sync "$new" "$old"
log "Sentinel made :$old a replica of :$new after $(( $(now_ms) - restarted )) ms; it converged"

load &
load_pid=$!
sleep 1
log "--- SENTINEL FAILOVER $NAME (planned switchover) under load"
asked=$(now_ms)
cli $((BASE_PORT + 10)) sentinel failover $NAME >/dev/null
wait_for "the roles swap" bash -c "[[ \$(redis-cli -p $((BASE_PORT + 10)) sentinel get-master-addr-by-name $NAME | tail -1) != $new ]]"
newer=$(master_port)
log "promoted :$newer after $(( $(now_ms) - asked )) ms"
wait_for "the old master follows" follows "$newer" "$new"
log ":$new follows :$newer (full syncs $(field "$new" replica_full_syncs), partial syncs $(field "$new" replica_partial_syncs))"
sleep 1
kill "$load_pid"; wait "$load_pid" 2>/dev/null || true; load_pid=""
wait_for "in sync" in_sync "$newer" "$new"
check_acked "$newer"
log "done"

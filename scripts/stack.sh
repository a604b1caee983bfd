#!/usr/bin/env bash
# Escucha local stack without Docker: Kafka 3.9.1 (KRaft, from Maven jars),
# PostgreSQL 15 and Redis from Debian, and the five services, all bound to
# 127.0.0.1 with state under $ESCUCHA_STATE_DIR. Config: scripts/env.sh.
# Every command is idempotent; readiness is polled with deadlines, never slept.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"

REPO=$ESCUCHA_REPO
STATE=$ESCUCHA_STATE_DIR
KPORT=$ESCUCHA_KAFKA_PORT
KCPORT=$ESCUCHA_KAFKA_CONTROLLER_PORT
PGPORT=$ESCUCHA_PG_PORT
RPORT=$ESCUCHA_REDIS_PORT
SERVICES=(ingest classify prioritize actions api)
PGBIN=/usr/lib/postgresql/15/bin
PGDATA=$STATE/pg/data
PGSOCK=$STATE/pg/run
KAFKA_POM=$REPO/tools/kafka/pom.xml
KAFKA_LIBS=$REPO/tools/kafka/target/kafka-libs
# Fixed cluster id (base64url of 16 bytes): format is then deterministic and
# needs no extra JVM run for `random-uuid`.
KAFKA_CLUSTER_ID=ZXNjdWNoYS1sb2NhbC1rcg

log() { echo "stack: $*"; }
die() { echo "stack: error: $*" >&2; exit 1; }

# ---------- helpers ----------
# pid in a pid file if that process is alive and its command line contains
# TOKEN (guards against a recycled pid, and against zombies: their cmdline is
# empty, and PID 1 here does not necessarily reap orphans).
live_pid() { # FILE TOKEN
  local pid
  [[ -s $1 ]] || return 1
  pid=$(head -n1 "$1" | tr -dc 0-9)
  [[ -n $pid && -r /proc/$pid/cmdline ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$2" || return 1
  echo "$pid"
}

# something accepts TCP connections on 127.0.0.1:PORT
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_for SECONDS CMD...: poll CMD every 0.2 s until it succeeds or time is up
wait_for() {
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

# Stopping = signal the pid we recorded (never a name match), wait up to
# GRACE s for it to go, then SIGKILL. Split in two so `down` can signal all
# services first and let them shut down in parallel.
stop_send() { # NAME FILE TOKEN [SIGNAL]; fails if not running
  local pid
  if ! pid=$(live_pid "$2" "$3"); then rm -f "$2"; log "$1 not running"; return 1; fi
  log "stopping $1 (pid $pid)"
  kill -"${4:-TERM}" "$pid" 2>/dev/null || true
}
stop_reap() { # NAME FILE TOKEN GRACE
  local name=$1 file=$2 token=$3 pid
  if pid=$(live_pid "$file" "$token") && ! wait_for "$4" eval '! live_pid "$file" "$token"'; then
    log "$name did not stop within ${4}s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_for 10 eval '! live_pid "$file" "$token"' || die "$name (pid $pid) survived SIGKILL"
  fi
  rm -f "$file"
}
stop_pid() { # NAME FILE TOKEN GRACE [SIGNAL]
  if stop_send "$1" "$2" "$3" "${5:-TERM}"; then stop_reap "$1" "$2" "$3" "$4"; fi
}

ensure_dirs() { mkdir -p "$STATE"/{kafka,pg,redis,logs,pids}; }

check_port_free() { # NAME PORT
  ! port_open "$2" || die "$1: port $2 on 127.0.0.1 is in use by another process (set ESCUCHA_*_PORT)"
}

# ---------- kafka ----------
cmd_jars() {
  # The stamp holds the pom's hash: a changed pom re-runs mvn, otherwise the
  # jars are reused (mvn costs seconds even when everything is cached).
  local want; want=$(sha256sum "$KAFKA_POM" | cut -d' ' -f1)
  if [[ -f $KAFKA_LIBS/.stamp && $(cat "$KAFKA_LIBS/.stamp") == "$want" ]] &&
     compgen -G "$KAFKA_LIBS/kafka_2.13-*.jar" >/dev/null; then
    return 0
  fi
  log "fetching Kafka broker jars with maven"
  rm -rf "$KAFKA_LIBS"
  # (mvn 3.8 -q still prints colour resets; strip them)
  mvn -B -q -Dstyle.color=never -f "$KAFKA_POM" package 2>&1 | sed 's/\x1b\[[0-9;]*m//g'
  echo "$want" >"$KAFKA_LIBS/.stamp"
  log "kafka jars: $(ls "$KAFKA_LIBS"/*.jar | wc -l) in $KAFKA_LIBS"
}

# Nodes: ESCUCHA_KAFKA_BROKER_COUNT KRaft nodes, each broker+controller. One node keeps the
# historical file names (kafka.pid, logs/kafka.log, kafka/data); a cluster's node I has
# kafka/nodeI/, pids/kafka-I.pid and logs/kafka-I.log, so the two never share a log dir.
KCOUNT=$ESCUCHA_KAFKA_BROKER_COUNT
[[ $KCOUNT =~ ^[1-9]$ ]] || die "ESCUCHA_KAFKA_BROKER_COUNT must be 1..9 (got '$KCOUNT')"
# replication factor 3 at most; min ISR one below it, so a cluster takes acks=all writes with
# one node down but never acknowledges a write only one copy holds
KRF=$((KCOUNT < 3 ? KCOUNT : 3))
KMINISR=$((KRF > 1 ? KRF - 1 : 1))
knode_dir() { if ((KCOUNT == 1)); then echo "$STATE/kafka"; else echo "$STATE/kafka/node$1"; fi; }
knode_pidf() { if ((KCOUNT == 1)); then echo "$STATE/pids/kafka.pid"; else echo "$STATE/pids/kafka-$1.pid"; fi; }
knode_log() { if ((KCOUNT == 1)); then echo "$STATE/logs/kafka.log"; else echo "$STATE/logs/kafka-$1.log"; fi; }
knode_port() { echo $((KPORT + 2 * ($1 - 1))); }
knode_cport() { echo $((KCPORT + 2 * ($1 - 1))); }
# the pid file's process must be this node's JVM (its properties path is on the command line)
knode_token() { echo "kafka.Kafka $(knode_dir "$1")/server.properties"; }
knode_name() { if ((KCOUNT == 1)); then echo kafka; else echo "kafka node $1"; fi; }
knode_check() { [[ $1 =~ ^[1-9]$ ]] && (($1 <= KCOUNT)) || die "no kafka node '$1' (1..$KCOUNT)"; }
KAFKA_JAVA=(java -Dlog4j.configuration="file:$REPO/tools/kafka/log4j.properties"
  -Dkafka.logs.dir="$STATE/logs" -Djava.awt.headless=true -cp "$KAFKA_LIBS/*")

write_kafka_props() { # NODE
  local i=$1 dir voters="" j
  dir=$(knode_dir "$i")
  for ((j = 1; j <= KCOUNT; j++)); do voters+="${voters:+,}$j@127.0.0.1:$(knode_cport "$j")"; done
  # Written on every start so port changes in the env take effect.
  cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$(knode_port "$i"),CONTROLLER://127.0.0.1:$(knode_cport "$i")
advertised.listeners=PLAINTEXT://127.0.0.1:$(knode_port "$i")
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=3
default.replication.factor=$KRF
min.insync.replicas=$KMINISR
auto.create.topics.enable=false
unclean.leader.election.enable=false
# internal topics replicated like the rest (RF $KRF, min ISR $KMINISR), and 1 partition instead
# of 50 so the first group join / init_transactions is fast
offsets.topic.replication.factor=$KRF
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=$KRF
transaction.state.log.min.isr=$KMINISR
transaction.state.log.num.partitions=1
group.initial.rebalance.delay.ms=0
# after a kill -9 the new incarnation can't register until the old broker
# session expires (default 9 s), and in a cluster the dead node's partitions
# only move once it is fenced: shorter for crash/restart tests
broker.session.timeout.ms=3000
broker.heartbeat.interval.ms=500
num.network.threads=2
num.io.threads=2
EOF
}

# A cluster's state dir remembers its size: nodes formatted for another voter set would not
# form a quorum (start over: stack.sh down, then remove $STATE/kafka/node*).
kafka_check_size() {
  ((KCOUNT > 1)) || return 0
  local f=$STATE/kafka/cluster-size
  mkdir -p "$STATE/kafka"
  if [[ -s $f && $(cat "$f") != "$KCOUNT" ]]; then
    die "kafka: $STATE/kafka holds a $(cat "$f")-node cluster, not $KCOUNT (remove $STATE/kafka/node* and cluster-size to start over)"
  fi
  echo "$KCOUNT" >"$f"
}

# Format node I's log dir if new (a JVM run of its own: seconds).
kafka_format() { # NODE
  local dir; dir=$(knode_dir "$1")
  mkdir -p "$dir/data"
  write_kafka_props "$1"
  [[ ! -f $dir/data/meta.properties ]] || return 0
  log "formatting $(knode_name "$1") storage"
  "${KAFKA_JAVA[@]}" kafka.tools.StorageTool format -t "$KAFKA_CLUSTER_ID" \
    -c "$dir/server.properties" --ignore-formatted >/dev/null
}

# Start node I's JVM and return at once (infra overlaps its startup with PG/Redis).
kafka_launch() { # NODE
  local i=$1 pid dir pidf log name
  dir=$(knode_dir "$i") pidf=$(knode_pidf "$i") log=$(knode_log "$i") name=$(knode_name "$i")
  if pid=$(live_pid "$pidf" "$(knode_token "$i")"); then log "$name already running (pid $pid)"; return 0; fi
  # a node just killed may hold its ports a moment longer than its pid (the kernel releases
  # the process's memory, which live_pid looks at, before its sockets)
  wait_for 10 eval '! port_open "$(knode_port "$i")" && ! port_open "$(knode_cport "$i")"' || true
  check_port_free "$name" "$(knode_port "$i")"; check_port_free "$name controller" "$(knode_cport "$i")"
  cmd_jars
  kafka_check_size
  ensure_dirs; mkdir -p "$dir/data"
  kafka_format "$i"
  # fresh log: readiness is a grep for the startup line, an old one must not match
  [[ -f $log ]] && mv -f "$log" "$log.1"
  log "starting $name on 127.0.0.1:$(knode_port "$i")"
  # setsid: own session, so a terminal's Ctrl-C or hangup doesn't reach it;
  # cwd = node dir so a crash's hs_err file lands there.
  # Defaults favour start-up time (tests); benchmarks pass throughput settings.
  # A cluster's nodes share the machine: smaller heaps each.
  local heap="-Xms256m -Xmx512m"
  ((KCOUNT == 1)) || heap="-Xms128m -Xmx256m"
  local jvm_opts=(${ESCUCHA_KAFKA_JVM_OPTS:-$heap -XX:+UseSerialGC -XX:TieredStopAtLevel=1})
  (cd "$dir" && exec setsid "${KAFKA_JAVA[@]}" "${jvm_opts[@]}" \
    -XX:+ExitOnOutOfMemoryError kafka.Kafka "$dir/server.properties" \
    >"$log" 2>&1 </dev/null) &
  echo $! >"$pidf"
}

# node I's JVM is up and answers metadata requests
kafka_node_up() {
  live_pid "$(knode_pidf "$1")" "$(knode_token "$1")" >/dev/null &&
    grep -q 'Kafka Server started' "$(knode_log "$1")" 2>/dev/null &&
    kcat -b "127.0.0.1:$(knode_port "$1")" -L -m 2 >/dev/null 2>&1
}

kafka_wait() { # NODE
  local i=$1 deadline=$((SECONDS + 90)) log pidf name
  log=$(knode_log "$i") pidf=$(knode_pidf "$i") name=$(knode_name "$i")
  until grep -q 'Kafka Server started' "$log" 2>/dev/null; do
    if ! live_pid "$pidf" "$(knode_token "$i")" >/dev/null; then
      tail -n 40 "$log" >&2 || true; die "$name exited during startup (log: $log)"
    fi
    ((SECONDS < deadline)) || { tail -n 40 "$log" >&2; die "$name not started after 90 s"; }
    sleep 0.2
  done
  # the log line means the broker is up; a metadata round trip proves clients get through
  wait_for 30 kcat -b "127.0.0.1:$(knode_port "$i")" -L -m 2 || die "$name does not answer metadata requests"
  log "$name ready (pid $(cat "$pidf"))"
}

# every node registered: metadata lists KCOUNT brokers
kafka_cluster_wait() {
  ((KCOUNT > 1)) || return 0
  wait_for 60 eval 'kcat -b "$ESCUCHA_KAFKA_BROKERS" -L -m 2 2>/dev/null | grep -q "^ *$KCOUNT brokers:"' ||
    die "kafka: fewer than $KCOUNT brokers registered after 60 s"
  log "kafka: $KCOUNT-node cluster ready ($ESCUCHA_KAFKA_BROKERS)"
}

kafka_launch_all() {
  local i pids=()
  # a new cluster's nodes are formatted side by side first (one JVM each)
  if ((KCOUNT > 1)); then
    cmd_jars; kafka_check_size; ensure_dirs
    for ((i = 1; i <= KCOUNT; i++)); do
      [[ -f $(knode_dir "$i")/data/meta.properties ]] || { kafka_format "$i" & pids+=($!); }
    done
    for i in "${pids[@]}"; do wait "$i" || die "kafka: formatting storage failed"; done
  fi
  for ((i = 1; i <= KCOUNT; i++)); do kafka_launch "$i"; done
}
kafka_wait_all() {
  local i
  for ((i = 1; i <= KCOUNT; i++)); do kafka_node_up "$i" || kafka_wait "$i"; done
  kafka_cluster_wait
}
kafka_check_ports() {
  local i
  for ((i = 1; i <= KCOUNT; i++)); do
    live_pid "$(knode_pidf "$i")" "$(knode_token "$i")" >/dev/null && continue
    check_port_free "$(knode_name "$i")" "$(knode_port "$i")"
    check_port_free "$(knode_name "$i") controller" "$(knode_cport "$i")"
  done
}

cmd_kafka_start() { kafka_launch_all; kafka_wait_all; }
# SIGTERM = controlled shutdown (flushes logs, clean restart); it takes a few s. All nodes at
# once: a node stopped after the others are gone would wait for a controller quorum that is
# no more. Every kafka pid file is stopped, whatever the configured count.
cmd_kafka_stop() {
  local f sent=()
  for f in "$STATE"/pids/kafka.pid "$STATE"/pids/kafka-[0-9].pid; do
    [[ -e $f ]] || continue
    if stop_send "$(basename "$f" .pid)" "$f" kafka.Kafka; then sent+=("$f"); fi
  done
  for f in "${sent[@]}"; do stop_reap "$(basename "$f" .pid)" "$f" kafka.Kafka 30; done
  ((${#sent[@]})) || log "kafka not running"
}
# one node of a cluster (failure drills): start it, stop it (SIGTERM), or kill -9 it
cmd_kafka_node_start() { knode_check "$1"; kafka_launch "$1"; kafka_wait "$1"; }
cmd_kafka_node_stop() { knode_check "$1"; stop_pid "$(knode_name "$1")" "$(knode_pidf "$1")" "$(knode_token "$1")" 30; }
cmd_kafka_node_kill() { knode_check "$1"; stop_pid "$(knode_name "$1")" "$(knode_pidf "$1")" "$(knode_token "$1")" 5 KILL; }

# ---------- postgres ----------
# initdb/postgres refuse to run as root: run them as the `postgres` user then.
as_pg() { if ((EUID == 0)); then runuser -u postgres -- "$@"; else "$@"; fi; }

# postgres must be able to reach $STATE/pg: give +x (search only, no read) to
# any parent directory that lacks it for "other".
make_traversable() {
  ((EUID == 0)) || return 0
  runuser -u postgres -- test -x "$STATE/pg" && return 0
  local d=$STATE
  while [[ $d != / ]]; do
    [[ $(stat -c %A "$d") == *[xt] ]] || { log "note: chmod o+x $d (postgres must traverse it)"; chmod o+x "$d"; }
    d=$(dirname "$d")
  done
}

pg_pid() { live_pid "$PGDATA/postmaster.pid" postgres; }

cmd_pg_start() {
  local pid
  if pid=$(pg_pid); then log "postgres already running (pid $pid)"; return 0; fi
  check_port_free postgres "$PGPORT"
  # After a kill -9 the dead postmaster may linger as a zombie (PID 1 here is
  # slow to reap); postgres would take it for a live owner of postmaster.pid.
  local old; old=$(head -n1 "$PGDATA/postmaster.pid" 2>/dev/null | tr -dc 0-9 || true)
  if [[ -n $old ]] && ! wait_for 15 eval '[[ ! -e /proc/$old ]]'; then
    log "note: pid $old from a stale postmaster.pid still exists"
  fi
  [[ -x $PGBIN/initdb ]] || die "PostgreSQL 15 not installed (run scripts/deps.sh)"
  ensure_dirs; mkdir -p "$PGSOCK"
  touch "$STATE/logs/postgres.log"
  if ((EUID == 0)); then
    chown -R postgres: "$STATE/pg" "$STATE/logs/postgres.log"
    make_traversable
  fi
  if [[ ! -f $PGDATA/PG_VERSION ]]; then
    log "initdb $PGDATA"
    # trust: initdb then allows local + 127.0.0.1/::1 without password;
    # we only listen on loopback. C.UTF-8 so lower()/upper() handle ñ, á.
    as_pg "$PGBIN/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >>"$PGDATA/postgresql.conf" <<'EOF'
# escucha test tuning (fsync stays on: crash tests should see real durability)
shared_buffers = 32MB
max_connections = 100
log_min_messages = warning
log_line_prefix = '%m [%p] %q%u@%d '
EOF
  fi
  # Unix socket paths are limited to ~107 bytes; with a very deep state dir
  # use TCP only rather than fail.
  local sock=$PGSOCK
  ((${#PGSOCK} + 20 < 107)) || { log "note: state path too long for a unix socket; TCP only"; sock=""; }
  log "starting postgres on 127.0.0.1:$PGPORT"
  as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -l "$STATE/logs/postgres.log" -w -t 60 \
    -o "-p $PGPORT -k '$sock' -c listen_addresses=127.0.0.1" start >/dev/null ||
    { tail -n 20 "$STATE/logs/postgres.log" >&2; die "postgres failed to start"; }
  pg_pid >"$STATE/pids/postgres.pid"
  # role + database (idempotent; cheap enough to check on every start)
  local su=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -tA)
  [[ $("${su[@]}" -c "select 1 from pg_roles where rolname='escucha'") == 1 ]] ||
    "${su[@]}" -c "create role escucha login"
  [[ $("${su[@]}" -c "select 1 from pg_database where datname='escucha'") == 1 ]] ||
    "${su[@]}" -c "create database escucha owner escucha"
  log "postgres ready (pid $(cat "$STATE/pids/postgres.pid"))"
}

cmd_pg_stop() {
  local pid
  if ! pid=$(pg_pid); then rm -f "$STATE/pids/postgres.pid"; log "postgres not running"; return 0; fi
  log "stopping postgres (pid $pid)"
  # fast = roll back open sessions and checkpoint (SIGTERM would be "smart"
  # and wait for every client to disconnect); immediate, then KILL, as fallbacks
  as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w -t 30 stop >/dev/null ||
    as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m immediate -w -t 10 stop >/dev/null ||
    { kill -KILL "$pid" 2>/dev/null || true; }
  rm -f "$STATE/pids/postgres.pid"
}

# ---------- redis ----------
REDIS_PID=$STATE/pids/redis.pid

cmd_redis_start() {
  local pid
  if pid=$(live_pid "$REDIS_PID" redis-server); then log "redis already running (pid $pid)"; return 0; fi
  check_port_free redis "$RPORT"
  ensure_dirs; rm -f "$REDIS_PID"
  log "starting redis on 127.0.0.1:$RPORT"
  # append-only file: dedup keys and in-flight claims survive a restart (docs/operations.md)
  redis-server --bind 127.0.0.1 --port "$RPORT" --daemonize yes --pidfile "$REDIS_PID" \
    --dir "$STATE/redis" --logfile "$STATE/logs/redis.log" --save "" --appendonly yes --appendfsync everysec
  # a big append-only file takes a while to load (Redis answers LOADING meanwhile)
  wait_for 180 eval '[[ $(redis-cli -h 127.0.0.1 -p "$RPORT" ping) == PONG ]]' ||
    { tail -n 20 "$STATE/logs/redis.log" >&2; die "redis not answering"; }
  wait_for 5 live_pid "$REDIS_PID" redis-server || die "redis pid file missing"
  log "redis ready (pid $(cat "$REDIS_PID"))"
}

cmd_redis_stop() { stop_pid redis "$REDIS_PID" redis-server 60; }

# Forget every key (tests and benchmarks start from an empty dedup state).
cmd_redis_wipe() {
  if live_pid "$REDIS_PID" redis-server >/dev/null; then
    redis-cli -h 127.0.0.1 -p "$RPORT" flushall >/dev/null
  else
    rm -rf "$STATE/redis"
  fi
  log "redis: wiped"
}

# ---------- infra, topics, migrations, provisioning ----------
cmd_infra() {
  local t0=$SECONDS
  [[ ${ESCUCHA_SKIP_DEPS:-0} == 1 ]] || "$REPO/scripts/deps.sh" >/dev/null
  # check every port before starting anything, so a clash leaves nothing half-up
  kafka_check_ports
  pg_pid >/dev/null || check_port_free postgres "$PGPORT"
  live_pid "$REDIS_PID" redis-server >/dev/null || check_port_free redis "$RPORT"
  kafka_launch_all # the JVMs boot while PG and Redis start
  cmd_pg_start
  cmd_redis_start
  kafka_wait_all
  log "infra up in $((SECONDS - t0)) s"
}

# every Escucha topic replicated like the internal ones (RF 3 and min ISR 2 on a cluster)
cmd_topics() {
  /usr/bin/python3 "$REPO/scripts/kafka_topics.py" "$ESCUCHA_KAFKA_BROKERS" --replication "$KRF" --min-isr "$KMINISR"
}

# client_min_messages: hide "already exists, skipping" notices
psql_app() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 "$ESCUCHA_PG_DSN" "$@"; }

# escucha-api's read-only role: only a superuser may create it (the grants are
# in migrations/002_read_side.sql); loopback is trusted, so no password.
ensure_api_role() {
  local su=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -tA)
  [[ $("${su[@]}" -c "select 1 from pg_roles where rolname='escucha_api'") == 1 ]] ||
    "${su[@]}" -c "create role escucha_api login"
}

cmd_migrate() {
  local dir=$ESCUCHA_MIGRATIONS_DIR f v applied out n=0
  ensure_api_role
  psql_app -c "create table if not exists schema_migrations(version text primary key, applied_at timestamptz not null default now())"
  applied=$(psql_app -tA -c "select version from schema_migrations")
  # lexical order in the C locale, whatever the user's locale is
  while IFS= read -r f; do
    [[ -n $f ]] || continue
    v=$(basename "$f")
    grep -qxF -- "$v" <<<"$applied" && continue
    # One transaction per file: the file and its bookkeeping row commit
    # together. The advisory lock is the one lib/pg.c (es_pg_migrate) takes, so
    # a service applying migrations at start and this script never race; the
    # applied check is repeated under the lock.
    # (the file is inlined rather than \i'd: psql keeps quotes around an
    # interpolated \i path, so paths with spaces would break)
    out=$({
      printf '%s\n' 'select pg_advisory_xact_lock(74657) \g /dev/null' \
        "select exists(select 1 from schema_migrations where version = :'v') as done \\gset" \
        '\if :done' '\echo skipped' '\else'
      cat "$f"
      printf '\n%s\n' "insert into schema_migrations(version) values (:'v');" '\echo applied' '\endif'
    } | psql_app -1 -v v="$v" -f -
    ) || die "migration $v failed (rolled back; nothing recorded)"
    if [[ $out == *applied ]]; then log "migrate: applied $v"; n=$((n + 1)); fi
  done < <(compgen -G "$dir/*.sql" | LC_ALL=C sort)
  log "migrate: $n applied, $(psql_app -tA -c 'select count(*) from schema_migrations') total"
}

# A key file (0600, no newline: safe to paste in a header), made if missing; prints the key.
provision_key() {
  local f=$1 key
  if [[ -s $f ]]; then
    key=$(tr -d '[:space:]' <"$f")
  else
    key="es_$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
    (umask 077 && printf '%s' "$key" >"$f")
    log "provision: new key in $f" >&2
  fi
  chmod 600 "$f"
  printf '%s' "$key"
}

# Demo keys for the agencies `demo` (admin, and a read-only one) and `otra`
# (admin: isolation can be tried by hand), and the citizen receipt secret.
# The provisioner owns the demo and otra lines of the keys file (a stale one,
# from a changed key file or the older agency:<hash> format, is replaced);
# other agencies' lines are kept.
cmd_provision() {
  local keys=$STATE/api-keys want line hash tmp
  ensure_dirs
  want=""
  for line in "demo-api-key demo admin" "demo-read-key demo read" "otra-api-key otra admin"; do
    set -- $line
    hash=$(provision_key "$STATE/$1" | sha256sum | cut -d' ' -f1)
    want+="$2:$3:$hash"$'\n'
  done
  # api-keys holds only sha256 hashes; 644 so a non-root container user
  # (deploy/docker-compose.yml mounts it) can read it
  touch "$keys"; chmod 644 "$keys"
  tmp=$(grep -v -e '^demo:' -e '^otra:' "$keys" || true)
  if [[ $(grep -e '^demo:' -e '^otra:' "$keys" || true)$'\n' != "$want" ]]; then
    { [[ -z $tmp ]] || printf '%s\n' "$tmp"; printf '%s' "$want"; } >"$keys.tmp" && mv -f "$keys.tmp" "$keys"
    chmod 644 "$keys"
    log "provision: demo and otra keys registered in $keys"
  else
    log "provision: demo and otra keys already provisioned"
  fi
  # receipt secret: 32 random bytes as hex, readable by the services' user only
  if [[ ! -s $ESCUCHA_RECEIPT_SECRET_FILE ]]; then
    (umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$ESCUCHA_RECEIPT_SECRET_FILE")
    log "provision: new receipt secret in $ESCUCHA_RECEIPT_SECRET_FILE"
  fi
  chmod 600 "$ESCUCHA_RECEIPT_SECRET_FILE"
  # contact key pair: ingest seals with the public key, escucha-actions opens with the secret one
  if [[ ! -s $ESCUCHA_CONTACT_PUBLIC_KEY_FILE || ! -s $ESCUCHA_CONTACT_SECRET_KEY_FILE ]]; then
    [[ -x $ESCUCHA_BIN_DIR/escucha-ingest ]] || die "provision: build first (make): escucha-ingest keygen makes the contact keys"
    rm -f "$ESCUCHA_CONTACT_PUBLIC_KEY_FILE" "$ESCUCHA_CONTACT_SECRET_KEY_FILE"
    "$ESCUCHA_BIN_DIR/escucha-ingest" keygen "$ESCUCHA_CONTACT_PUBLIC_KEY_FILE" "$ESCUCHA_CONTACT_SECRET_KEY_FILE" >/dev/null
    log "provision: new contact key pair in $ESCUCHA_CONTACT_PUBLIC_KEY_FILE (+ secret)"
  fi
}

# ---------- services ----------
svc_pidf() { echo "$STATE/pids/$1.pid"; }
svc_check() { [[ " ${SERVICES[*]} " == *" $1 "* ]] || die "unknown service '$1' (one of: ${SERVICES[*]})"; }

# svc_launch NAME REQUIRED: start in the background, don't wait. Returns 2 if skipped.
svc_launch() {
  local name=$1 required=${2:-0} bin=$ESCUCHA_BIN_DIR/escucha-$1 port pid
  if [[ ! -x $bin ]]; then
    ((required)) && die "$bin not built (make bins)"
    log "skip $name: $bin not built"; return 2
  fi
  if pid=$(live_pid "$(svc_pidf "$name")" "escucha-$name"); then log "$name already running (pid $pid)"; return 0; fi
  port=$(escucha_admin_port "$name")
  check_port_free "$name admin" "$port"
  [[ $name != ingest ]] || check_port_free "ingest http" "$ESCUCHA_HTTP_PORT"
  [[ $name != api ]] || check_port_free "api http" "$ESCUCHA_API_HTTP_PORT"
  ensure_dirs
  echo "=== $(date -Is) start $bin" >>"$STATE/logs/$name.log"
  log "starting $name (admin 127.0.0.1:$port)"
  # every ESCUCHA_* already in the environment passes through (env.sh only
  # fills in unset ones); the admin port is per service so it always wins.
  (
    for v in $ESCUCHA_ENV_VARS; do export "$v"; done
    export ESCUCHA_ADMIN_PORT=$port
    # the api has its own HTTP port (ESCUCHA_HTTP_PORT is ingest's in this env)
    [[ $name != api ]] || export ESCUCHA_HTTP_PORT=$ESCUCHA_API_HTTP_PORT
    exec setsid nohup "$bin" >>"$STATE/logs/$name.log" 2>&1 </dev/null
  ) &
  echo $! >"$(svc_pidf "$name")"
}

svc_wait() {
  local name=$1 port deadline=$((SECONDS + 30))
  port=$(escucha_admin_port "$name")
  until [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/healthz") == 200 ]]; do
    if ! live_pid "$(svc_pidf "$name")" "escucha-$name" >/dev/null; then
      tail -n 30 "$STATE/logs/$name.log" >&2 || true; die "$name exited during startup (log: $STATE/logs/$name.log)"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 30 "$STATE/logs/$name.log" >&2 || true; die "$name: no 200 from /healthz on :$port after 30 s"
    fi
    sleep 0.2
  done
  log "$name healthy (pid $(cat "$(svc_pidf "$name")"))"
}

cmd_services() {
  local s started=()
  for s in "${SERVICES[@]}"; do
    if svc_launch "$s" 0; then started+=("$s"); fi
  done
  for s in "${started[@]}"; do svc_wait "$s"; done
}

cmd_service_start() { svc_check "$1"; svc_launch "$1" 1; svc_wait "$1"; }
# services finish in-flight work, commit offsets and flush on SIGTERM
cmd_service_stop() { svc_check "$1"; stop_pid "$1" "$(svc_pidf "$1")" "escucha-$1" 20; }
cmd_service_kill() { svc_check "$1"; stop_pid "$1" "$(svc_pidf "$1")" "escucha-$1" 5 KILL; }

cmd_services_stop() {
  local s sent=()
  # TERM all first so they shut down in parallel, then reap one by one
  for s in "${SERVICES[@]}"; do
    if stop_send "$s" "$(svc_pidf "$s")" "escucha-$s"; then sent+=("$s"); fi
  done
  for s in "${sent[@]}"; do stop_reap "$s" "$(svc_pidf "$s")" "escucha-$s" 20; done
}

# ---------- up / down / status ----------
cmd_up() {
  local t0=$SECONDS
  cmd_infra; cmd_topics; cmd_migrate; cmd_provision; cmd_services
  log "up in $((SECONDS - t0)) s; demo keys: $STATE/demo-api-key (admin), $STATE/demo-read-key (read), $STATE/otra-api-key (agency otra)"
  log "dashboard: http://127.0.0.1:$ESCUCHA_API_HTTP_PORT/ (sign in with one of those keys)"
}

cmd_down() { cmd_services_stop; cmd_redis_stop; cmd_pg_stop; cmd_kafka_stop; }

status_line() { # NAME PIDFILE TOKEN PORT
  local pid state
  if pid=$(live_pid "$2" "$3"); then
    if port_open "$4"; then state=up; else state="starting (port closed)"; fi
  else
    pid=-; state=down
    port_open "$4" && state="down (port taken by another process)"
  fi
  printf '%-11s %-8s %-6s %s\n' "$1" "$pid" "$4" "$state"
}

cmd_status() {
  local s
  echo "state: $STATE"
  printf '%-11s %-8s %-6s %s\n' NAME PID PORT STATE
  local i
  for ((i = 1; i <= KCOUNT; i++)); do
    status_line "$( ((KCOUNT == 1)) && echo kafka || echo "kafka-$i")" "$(knode_pidf "$i")" "$(knode_token "$i")" "$(knode_port "$i")"
  done
  status_line postgres "$PGDATA/postmaster.pid" postgres "$PGPORT"
  status_line redis "$REDIS_PID" redis-server "$RPORT"
  for s in "${SERVICES[@]}"; do
    status_line "$s" "$(svc_pidf "$s")" "escucha-$s" "$(escucha_admin_port "$s")"
  done
  [[ -s $STATE/pids/ingest.pid ]] && echo "ingest http: 127.0.0.1:$ESCUCHA_HTTP_PORT"
  [[ -s $STATE/pids/api.pid ]] && echo "dashboard and read API: http://127.0.0.1:$ESCUCHA_API_HTTP_PORT/"
  return 0
}

usage() {
  cat <<EOF
usage: scripts/stack.sh COMMAND
  up | down | status | infra | jars | topics | migrate | provision | services
  kafka-start | kafka-stop | kafka-node-start N | kafka-node-stop N | kafka-node-kill N   (N: 1..$KCOUNT)
  pg-start | pg-stop | redis-start | redis-stop | redis-wipe
  service-start NAME | service-stop NAME | service-kill NAME   (NAME: ${SERVICES[*]})
config: eval "\$(scripts/env.sh)" shows it; state in $STATE
  ESCUCHA_KAFKA_BROKER_COUNT=3: a 3-node KRaft cluster (RF 3, min.insync.replicas 2)
EOF
}

cmd=${1:-}
case $cmd in
  up | down | status | infra | jars | topics | migrate | provision | services) "cmd_$cmd" ;;
  kafka-start | kafka-stop | pg-start | pg-stop | redis-start | redis-stop | redis-wipe) "cmd_${cmd//-/_}" ;;
  service-start | service-stop | service-kill | kafka-node-start | kafka-node-stop | kafka-node-kill)
    [[ $# -eq 2 ]] || { usage >&2; exit 2; }
    "cmd_${cmd//-/_}" "$2" ;;
  -h | --help | help) usage ;;
  *) usage >&2; exit 2 ;;
esac

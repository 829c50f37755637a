#!/usr/bin/env bash
# Runs a single-node Apache Kafka (KRaft: one process is both broker and controller) from the jars
# that scripts/bootstrap.sh collected, for local runs, tests and benchmarks. It listens on
# 127.0.0.1 only and keeps everything (config, data, log, pid) under one run directory.
# Besides the PLAINTEXT listener it has two secured ones, so that the security settings the
# engine passes to librdkafka stay tested: SASL_PLAINTEXT and SASL_SSL, both with the PLAIN
# mechanism and the test user medallion / medallion-secret (JAAS users in the broker config),
# the TLS one with a certificate for 127.0.0.1 made here with openssl (CA: <run dir>/tls/ca.pem).
# ACLs are enforced (StandardAuthorizer), but only where a test adds one.
#
#   scripts/kafka.sh start                      start (idempotent), wait until it answers
#   scripts/kafka.sh stop                       SIGTERM, up to 30 s, then SIGKILL (idempotent)
#   scripts/kafka.sh status                     exit 0 if running, 1 if not
#   scripts/kafka.sh topic-create NAME PARTS    create a topic if it does not exist
#   scripts/kafka.sh topic-delete NAME          delete a topic if it exists, wait until it is gone
#   scripts/kafka.sh topics                     list topics
#   scripts/kafka.sh delete-records TOPIC P OFF delete partition P's records before offset OFF
#                                               (as retention would; for data-loss tests)
#   scripts/kafka.sh logs [N]                   last N (default 100) lines of the broker log
#   scripts/kafka.sh reset                      stop and delete the run directory (all data)
#
# Environment:
#   MEDALLION_KAFKA_PORT             broker port (default 19092)
#   MEDALLION_KAFKA_CONTROLLER_PORT  controller port (default broker port + 1)
#   MEDALLION_KAFKA_SASL_PORT        SASL_PLAINTEXT listener port (default broker port + 2)
#   MEDALLION_KAFKA_SSL_PORT         SASL_SSL listener port (default broker port + 3)
#   MEDALLION_KAFKA_DIR              run directory (default <repo>/.run/kafka)
#   MEDALLION_KAFKA_LIBS             jar directory (default <repo>/.deps/kafka-libs)
#   MEDALLION_KAFKA_HEAP             broker max heap (default 1g)
#   MEDALLION_KAFKA_AUTO_CREATE      auto.create.topics.enable (default false)
#   MEDALLION_KAFKA_START_TIMEOUT    seconds to wait for a started broker to answer (default 300;
#                                    a restart reloads every topic in the data directory)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PORT="${MEDALLION_KAFKA_PORT:-19092}"
CPORT="${MEDALLION_KAFKA_CONTROLLER_PORT:-$((PORT + 1))}"
SASL_PORT="${MEDALLION_KAFKA_SASL_PORT:-$((PORT + 2))}"
SSL_PORT="${MEDALLION_KAFKA_SSL_PORT:-$((PORT + 3))}"
# Test credentials of the secured listeners (a local test broker's, not a secret).
SASL_USER=medallion
SASL_PASSWORD=medallion-secret
KEYSTORE_PASSWORD=medallion-keystore
RUN_DIR="$(realpath -m "${MEDALLION_KAFKA_DIR:-$ROOT/.run/kafka}")"
LIBS="${MEDALLION_KAFKA_LIBS:-$ROOT/.deps/kafka-libs}"
HEAP="${MEDALLION_KAFKA_HEAP:-1g}"
AUTO_CREATE="${MEDALLION_KAFKA_AUTO_CREATE:-false}"
PROPS="$RUN_DIR/server.properties"
PID_FILE="$RUN_DIR/kafka.pid"
LOG_FILE="$RUN_DIR/server.log"
BOOTSTRAP="127.0.0.1:$PORT"
START_TIMEOUT_S="${MEDALLION_KAFKA_START_TIMEOUT:-300}"
STOP_TIMEOUT_S=30

log() { echo "kafka.sh: $*" >&2; }
die() { log "$*"; exit 1; }
[[ $START_TIMEOUT_S =~ ^[1-9][0-9]{0,5}$ ]] || {
  log "MEDALLION_KAFKA_START_TIMEOUT must be a whole number of seconds (1..999999), not '$START_TIMEOUT_S'"
  exit 2
}

check_libs() {
  compgen -G "$LIBS/kafka_2.13-*.jar" >/dev/null \
    || die "no Kafka jars in $LIBS; run scripts/bootstrap.sh (or make bootstrap) first"
  command -v java >/dev/null || die "java not found; run scripts/bootstrap.sh first"
}

# Runs a Kafka command-line tool class. The tools are short-lived clients, so the JIT is kept at
# its first tier: they start about twice as fast on a small machine. TOOL_TIMEOUT bounds a call.
tool() {
  timeout "${TOOL_TIMEOUT:-120}" java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
    -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -cp "$LIBS/*" "$@"
}

# True if process $1 is a broker started with our properties file.
is_our_broker() {
  local -a args
  mapfile -d '' args <"/proc/$1/cmdline" 2>/dev/null || return 1
  [[ " ${args[*]} " == *" kafka.Kafka $PROPS "* ]]
}

# Prints the pid of our broker if it is alive. The pid file is checked first; if it is missing
# or stale (its pid reused by another process), /proc is searched for our command line, so a
# broker is never started twice on one run directory nor a stranger's process signalled.
running_pid() {
  local pid d
  pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  if [[ "$pid" =~ ^[0-9]+$ ]] && is_our_broker "$pid"; then
    echo "$pid"
    return 0
  fi
  for d in /proc/[0-9]*; do
    pid="${d#/proc/}"
    if is_our_broker "$pid"; then
      [[ -d "$RUN_DIR" ]] && echo "$pid" >"$PID_FILE"
      echo "$pid"
      return 0
    fi
  done
  return 1
}

# Serializes start/stop/reset on one run directory (two `make` targets may race).
lock_run_dir() {
  mkdir -p "$RUN_DIR"
  exec 9>"$RUN_DIR/kafka.sh.lock"
  flock 9
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A CA and a broker certificate for 127.0.0.1 (made once per run directory).
make_certificates() {
  local tls="$RUN_DIR/tls"
  [[ -f "$tls/broker.p12" && -f "$tls/ca.pem" ]] && return 0
  command -v openssl >/dev/null || die "openssl not found (needed for the SASL_SSL listener)"
  mkdir -p "$tls"
  (
    cd "$tls"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 3650 \
      -subj "/CN=medallion-test-ca" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout broker.key -out broker.csr \
      -subj "/CN=127.0.0.1" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >broker.ext
    openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out broker.pem \
      -days 3650 -extfile broker.ext 2>/dev/null
    openssl pkcs12 -export -in broker.pem -inkey broker.key -certfile ca.pem -name broker \
      -out broker.p12.tmp -passout "pass:$KEYSTORE_PASSWORD"
    mv broker.p12.tmp broker.p12
  ) || die "could not make the test certificates in $tls"
}

write_properties() {
  mkdir -p "$RUN_DIR/data"
  make_certificates
  local jaas="org.apache.kafka.common.security.plain.PlainLoginModule required \
user_$SASL_USER=\"$SASL_PASSWORD\";"
  cat >"$PROPS.tmp" <<EOF
# Generated by scripts/kafka.sh; rewritten on every start.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$CPORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT,SASL_PLAINTEXT://127.0.0.1:$SASL_PORT,SASL_SSL://127.0.0.1:$SSL_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT,SASL_PLAINTEXT://127.0.0.1:$SASL_PORT,SASL_SSL://127.0.0.1:$SSL_PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=$jaas
listener.name.sasl_ssl.plain.sasl.jaas.config=$jaas
listener.name.sasl_ssl.ssl.keystore.type=PKCS12
listener.name.sasl_ssl.ssl.keystore.location=$RUN_DIR/tls/broker.p12
listener.name.sasl_ssl.ssl.keystore.password=$KEYSTORE_PASSWORD
listener.name.sasl_ssl.ssl.key.password=$KEYSTORE_PASSWORD
# ACLs are enforced, but a resource without ACLs is open to everyone and the PLAINTEXT
# listeners' principal (ANONYMOUS) is a super user: only what a test denies is denied.
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=true
super.users=User:ANONYMOUS
# Compacted-topic tests: the cleaner looks for work every second, not every 15.
log.cleaner.backoff.ms=1000
log.dirs=$RUN_DIR/data
num.partitions=4
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=$AUTO_CREATE
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
log.retention.hours=168
EOF
  mv "$PROPS.tmp" "$PROPS"
}

format_storage() {
  [[ -f "$RUN_DIR/data/meta.properties" ]] && return 0
  local cluster_id
  cluster_id="$(tool kafka.tools.StorageTool random-uuid)"
  log "formatting storage in $RUN_DIR/data (cluster id $cluster_id)"
  tool kafka.tools.StorageTool format --standalone -t "$cluster_id" -c "$PROPS" >>"$LOG_FILE" 2>&1 \
    || { tail -n 20 "$LOG_FILE" >&2; die "storage format failed"; }
}

cmd_start() {
  local pid
  lock_run_dir
  if pid="$(running_pid)"; then
    log "already running (pid $pid) on $BOOTSTRAP"
    return 0
  fi
  check_libs
  if port_open "$PORT" || port_open "$CPORT" || port_open "$SASL_PORT" || port_open "$SSL_PORT"; then
    die "port $PORT, $CPORT, $SASL_PORT or $SSL_PORT is already in use by another process; set MEDALLION_KAFKA_PORT"
  fi
  write_properties
  # Keep one previous log; the broker appends to the current one.
  if [[ -f "$LOG_FILE" ]] && (($(stat -c %s "$LOG_FILE") > 50 * 1024 * 1024)); then
    mv -f "$LOG_FILE" "$LOG_FILE.1"
  fi
  format_storage
  local log_start
  log_start="$(stat -c %s "$LOG_FILE" 2>/dev/null || echo 0)"
  log "starting broker (log: $LOG_FILE)"
  # setsid: the broker outlives the shell (and make) that started it and gets no terminal signals.
  nohup setsid java "-Xmx$HEAP" -Xms256m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -Djava.awt.headless=true \
    -Dorg.slf4j.simpleLogger.defaultLogLevel=info \
    -Dorg.slf4j.simpleLogger.showDateTime=true \
    -Dorg.slf4j.simpleLogger.dateTimeFormat="yyyy-MM-dd'T'HH:mm:ss.SSS" \
    -Dorg.slf4j.simpleLogger.log.org.apache.kafka.clients=warn \
    -cp "$LIBS/*" kafka.Kafka "$PROPS" >>"$LOG_FILE" 2>&1 </dev/null 9>&- &
  echo $! >"$PID_FILE"
  wait_ready "$!" "$log_start"
}

# True if the broker log, from byte $1 on, says the server has started. grep reads a process
# substitution, not a pipe: under pipefail, `tail | grep -q` fails with tail's SIGPIPE once more
# than a pipe buffer of log follows the match, and a restart over many partitions writes that much
# while its first readiness polls fail, after which the broker never counted as ready.
log_says_started() {
  grep -q "Kafka Server started" < <(tail -c "+$(($1 + 1))" "$LOG_FILE" 2>/dev/null)
}

# Waits until the broker started from this run directory says it has started (in its log,
# after byte `log_start`), accepts connections and answers a metadata request. Without the
# first check, another broker that took the port first (a second run directory started at the
# same moment with the same port) would answer for this one, which then fails to bind.
wait_ready() {
  local pid="$1" log_start="${2:-0}" deadline=$((SECONDS + START_TIMEOUT_S))
  while ((SECONDS < deadline)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      pid="$(running_pid)" || { tail -n 30 "$LOG_FILE" >&2; die "broker exited during start"; }
    fi
    if log_says_started "$log_start" &&
        port_open "$PORT" && TOOL_TIMEOUT=30 tool org.apache.kafka.tools.TopicCommand \
        --bootstrap-server "$BOOTSTRAP" --list >/dev/null 2>&1; then
      echo "$pid" >"$PID_FILE"
      log "ready: broker on $BOOTSTRAP (SASL_PLAINTEXT :$SASL_PORT, SASL_SSL :$SSL_PORT), controller on 127.0.0.1:$CPORT (pid $pid, data $RUN_DIR)"
      return 0
    fi
    sleep 1
  done
  tail -n 30 "$LOG_FILE" >&2
  die "broker did not answer within ${START_TIMEOUT_S}s (pid $pid left running; see \
'scripts/kafka.sh logs', stop it with 'scripts/kafka.sh stop')"
}

cmd_stop() {
  local pid
  [[ -d "$RUN_DIR" ]] && lock_run_dir
  if ! pid="$(running_pid)"; then
    rm -f "$PID_FILE"
    log "not running"
    return 0
  fi
  log "stopping broker (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + STOP_TIMEOUT_S))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then
    log "no exit after ${STOP_TIMEOUT_S}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
  fi
  rm -f "$PID_FILE"
  log "stopped"
}

cmd_status() {
  local pid
  if pid="$(running_pid)"; then
    echo "running (pid $pid) on $BOOTSTRAP"
  else
    echo "not running"
    return 1
  fi
}

cmd_topic_create() {
  [[ $# -eq 2 && "$2" =~ ^[0-9]+$ ]] || die "usage: kafka.sh topic-create NAME PARTITIONS"
  running_pid >/dev/null || die "broker not running; run scripts/kafka.sh start"
  tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" --create \
    --if-not-exists --topic "$1" --partitions "$2" --replication-factor 1 >/dev/null
  local have
  have="$(tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" \
    --describe --topic "$1" | grep -c 'Partition: ' || true)"
  if [[ "$have" != "$2" ]]; then
    log "warning: topic $1 exists with $have partitions (asked for $2)"
  else
    log "topic $1 has $2 partitions"
  fi
}

cmd_topic_delete() {
  [[ $# -eq 1 ]] || die "usage: kafka.sh topic-delete NAME"
  running_pid >/dev/null || die "broker not running; run scripts/kafka.sh start"
  tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" --delete \
    --if-exists --topic "$1" >/dev/null
  local deadline=$((SECONDS + 30)) topics
  while topics="$(tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" --list)" &&
      grep -qxF -- "$1" <<<"$topics"; do
    ((SECONDS < deadline)) || die "topic $1 still listed 30s after its deletion"
    sleep 0.5
  done
}

cmd_delete_records() {
  [[ $# -eq 3 && "$2" =~ ^[0-9]+$ && "$3" =~ ^[0-9]+$ ]] ||
    die "usage: kafka.sh delete-records TOPIC PARTITION OFFSET"
  running_pid >/dev/null || die "broker not running; run scripts/kafka.sh start"
  local spec
  spec="$(mktemp)"
  printf '{"version":1,"partitions":[{"topic":"%s","partition":%s,"offset":%s}]}\n' "$1" "$2" "$3" >"$spec"
  tool org.apache.kafka.tools.DeleteRecordsCommand --bootstrap-server "$BOOTSTRAP" \
    --offset-json-file "$spec" >/dev/null || { rm -f "$spec"; die "delete-records $*: failed"; }
  rm -f "$spec"
  log "deleted the records of $1/$2 before offset $3"
}

# Sourced (by tests of the functions above), it defines them and runs nothing.
[[ "${BASH_SOURCE[0]}" == "$0" ]] || return 0

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  topic-create) shift; cmd_topic_create "$@" ;;
  topic-delete) shift; cmd_topic_delete "$@" ;;
  delete-records) shift; cmd_delete_records "$@" ;;
  topics) check_libs; tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" --list ;;
  logs) tail -n "${2:-100}" "$LOG_FILE" ;;
  reset) cmd_stop; rm -rf "$RUN_DIR"; log "removed $RUN_DIR" ;;
  *) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# The cost of small batches: a continuous medallion (`run --trigger-interval 100ms`) fed a
# steady produce rate, measured in CPU-seconds of the engine process.
#
#   bench/continuous.sh [--rate R] [--seconds S] [--partitions P] [--binary PATH] [--out DIR]
#                       [--trigger T] [--max-batch-wait W] [--perf] [--perf-seconds N]
#                       [--perf-callgraph fp|dwarf] [--python PY] [--run-arg ARG ...] [--no-catchup]
#
#   --rate R            events/s of the steady load (default 5000)
#   --seconds S         length of the steady load (default 120)
#   --partitions P      partitions of the fresh topic (default 4)
#   --binary PATH       the medallion binary (default build/src/cli/medallion); a private copy runs
#   --out DIR           work directory (default bench/.work/continuous-STAMP)
#   --trigger T         --trigger-interval of the run (default 100ms)
#   --max-batch-wait W  --max-batch-wait of the run (default 100ms, as bench/run.sh's latency run)
#   --perf              `perf record -g` the engine for --perf-seconds (default 20) in the middle
#                       of the load (999 Hz) and print the top of `perf report --no-children`, flat
#                       and with call graphs, and the split by thread and by library
#   --perf-callgraph M  perf's --call-graph mode (default fp; dwarf names the callers of functions
#                       in libraries built without frame pointers, at a larger perf.data)
#   --python PY         a Python with duckdb, deltalake and pyarrow (default: .venv/bin/python of
#                       the tree, else bench/.venv-spark/bin/python, else python3)
#   --run-arg ARG       one more argument for `medallion run` (repeat it: --run-arg --config
#                       --run-arg my.toml), e.g. to compare settings on the same load
#   --no-catchup        skip the reference run (below)
#
# Steps: fresh topic (unique name, P partitions, 1,000 warm-up events) -> engine started in the
# background, warm-up batch awaited -> CPU ticks (utime+stime, all threads, /proc/PID/stat) and
# the batch count noted -> `medallion produce --rate R --count R*S` -> waits until the engine has
# read every produced record (60 s at most) -> CPU ticks and peak RSS (VmHWM) noted -> SIGTERM,
# wait -> the reference: the whole topic again in one `run --until-caught-up` into fresh
# directories, less a second start there that finds nothing (start-up and shutdown), CPU from
# getrusage -> bench/continuous_report.py:
# batches, CPU-s, CPU-s per 1M events (and against the reference's), CPU ms per batch, files and
# log entries per table (and per minute), empty commits, per-batch stage times from the engine's
# batch log lines, p50/p99 produce->Silver latency (bench/latency.py).
# CPU time, not wall time, is the measure: it holds on a machine shared with other work.
# The broker must be running (scripts/kafka.sh start); it is left running.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/bench"
COMMAND="bench/continuous.sh${*:+ $*}"
RATE=5000 SECONDS_LOAD=120 PARTS=4 BINARY="$ROOT/build/src/cli/medallion" OUT="" PERF=0 PERF_SECONDS=20
TRIGGER=100ms MAX_WAIT=100ms PY="" PERF_CALLGRAPH=fp EXTRA_RUN_ARGS=() CATCHUP=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rate) RATE="$2"; shift 2 ;;
    --seconds) SECONDS_LOAD="$2"; shift 2 ;;
    --partitions) PARTS="$2"; shift 2 ;;
    --binary) BINARY="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --trigger) TRIGGER="$2"; shift 2 ;;
    --max-batch-wait) MAX_WAIT="$2"; shift 2 ;;
    --perf) PERF=1; shift ;;
    --perf-seconds) PERF_SECONDS="$2"; shift 2 ;;
    --perf-callgraph) PERF_CALLGRAPH="$2"; shift 2 ;;
    --python) PY="$2"; shift 2 ;;
    --run-arg) EXTRA_RUN_ARGS+=("$2"); shift 2 ;;
    --no-catchup) CATCHUP=0; shift ;;
    -h|--help) sed -n '2,38p' "$0"; exit 0 ;;
    *) echo "continuous.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

log() { printf '== %s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { echo "continuous.sh: $*" >&2; exit 1; }

STAMP="$(date +%Y%m%d-%H%M%S)"
OUT="${OUT:-$BENCH/.work/continuous-$STAMP}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
[[ -x "$BINARY" ]] || die "no medallion binary at $BINARY (ninja -C build medallion, or --binary)"
if [[ -z $PY ]]; then
  for candidate in "$ROOT/.venv/bin/python" "$BENCH/.venv-spark/bin/python" python3; do
    if "$candidate" -c 'import duckdb, deltalake, pyarrow' 2>/dev/null; then PY="$candidate"; break; fi
  done
fi
[[ -n $PY ]] || die "no Python with duckdb, deltalake and pyarrow (--python PY)"
if [[ $PERF == 1 ]]; then command -v perf >/dev/null || die "--perf: perf is not installed (apt-get install linux-perf)"; fi

KAFKA_SH="$ROOT/scripts/kafka.sh"
BROKERS="127.0.0.1:${MEDALLION_KAFKA_PORT:-19092}"
# A private copy, so a rebuild of the tree during the run cannot swap the binary under us.
cp "$BINARY" "$OUT/medallion-bin"
MEDALLION="$OUT/medallion-bin"
TOPIC="bench-cont-$STAMP-$$"
COUNT=$((RATE * SECONDS_LOAD))
DATA="$OUT/data" CKPT="$OUT/checkpoint" ENGINE_LOG="$OUT/engine.log"
FRACTIONS=(--duplicate-fraction 0.02 --late-fraction 0.02 --malformed-fraction 0.005 --invalid-fraction 0.005)
RUN_ARGS=(run --brokers "$BROKERS" --topic "$TOPIC" --data-dir "$DATA" --checkpoint-dir "$CKPT"
          --trigger-interval "$TRIGGER" --max-batch-wait "$MAX_WAIT" ${EXTRA_RUN_ARGS[@]+"${EXTRA_RUN_ARGS[@]}"})
echo "$COMMAND" > "$OUT/command.txt"

ENGINE_PID="" PRODUCER_PID="" PERF_PID=""
cleanup() {
  for pid in "$PERF_PID" "$PRODUCER_PID"; do
    [[ -n $pid ]] && kill "$pid" 2>/dev/null || true
  done
  if [[ -n $ENGINE_PID ]]; then kill -TERM "$ENGINE_PID" 2>/dev/null || true; wait "$ENGINE_PID" 2>/dev/null || true; fi
  bash "$KAFKA_SH" topic-delete "$TOPIC" >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# utime+stime of every thread of process $1, in clock ticks (fields 14 and 15 of /proc/PID/stat;
# the comm field may hold spaces, so the fields are counted after its closing parenthesis).
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
# One line per thread: name and ticks, for the split of the CPU time by thread.
thread_ticks() {
  local t
  for t in /proc/"$1"/task/*; do
    printf '%s\t%s\n' "$(cat "$t/comm" 2>/dev/null)" "$(sed 's/^.*) //' "$t/stat" 2>/dev/null | awk '{print $12 + $13}')"
  done
}
batch_lines() { grep -cE 'info batch [0-9]+: ' "$ENGINE_LOG" || true; }
wait_for() {  # wait_for SECONDS COMMAND...: polls until the command succeeds
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [[ $SECONDS -ge $deadline ]] && return 1
    sleep 0.5
  done
}

log "topic $TOPIC ($PARTS partitions), 1000 warm-up events"
"$MEDALLION" produce --brokers "$BROKERS" --topic "$TOPIC" --create-topic-partitions "$PARTS" --count 1000 \
  --seed 41 > "$OUT/warmup.log" 2>&1 || { tail -n 20 "$OUT/warmup.log" >&2; die "warm-up produce failed"; }

log "engine: medallion ${RUN_ARGS[*]}"
"$MEDALLION" "${RUN_ARGS[@]}" > "$ENGINE_LOG" 2>&1 &
ENGINE_PID=$!
wait_for 60 test -e "$DATA/silver/order_lines/_delta_log/00000000000000000000.json" \
  || { tail -n 20 "$ENGINE_LOG" >&2; die "the engine did not start (log: $ENGINE_LOG)"; }
wait_for 60 grep -qE 'info batch [0-9]+: .*lag 0 records' "$ENGINE_LOG" \
  || { tail -n 20 "$ENGINE_LOG" >&2; die "the engine did not process the warm-up (log: $ENGINE_LOG)"; }
sleep 1  # a few idle polls: the idle state is what the load starts from

CLK_TCK=$(getconf CLK_TCK)
BATCHES0=$(batch_lines)
CPU0=$(cpu_ticks "$ENGINE_PID")
thread_ticks "$ENGINE_PID" > "$OUT/threads0.tsv"
SINCE=$(date +%s%3N)
log "load: $RATE events/s for $SECONDS_LOAD s ($COUNT events), engine pid $ENGINE_PID"
"$MEDALLION" produce --brokers "$BROKERS" --topic "$TOPIC" --count "$COUNT" --seed 43 --rate "$RATE" \
  "${FRACTIONS[@]}" > "$OUT/produce.log" 2>&1 &
PRODUCER_PID=$!

if [[ $PERF == 1 ]]; then
  PERF_AT=$(( SECONDS_LOAD > PERF_SECONDS ? (SECONDS_LOAD - PERF_SECONDS) / 2 : 0 ))
  sleep "$PERF_AT"
  log "perf record -g -p $ENGINE_PID for $PERF_SECONDS s"
  perf record -F 999 --call-graph "$PERF_CALLGRAPH" -p "$ENGINE_PID" -o "$OUT/perf.data" -- sleep "$PERF_SECONDS" > "$OUT/perf-record.log" 2>&1 &
  PERF_PID=$!
  wait "$PERF_PID" || echo "perf record failed (log: $OUT/perf-record.log)" >&2
  PERF_PID=""
fi
wait "$PRODUCER_PID" || { PRODUCER_PID=""; tail -n 20 "$OUT/produce.log" >&2; die "produce failed"; }
PRODUCER_PID=""
PRODUCED_AT=$(date +%s%3N)
tail -n 1 "$OUT/produce.log"

# Done when the batches since the load began hold every produced record.
consumed() {
  grep -E 'info batch [0-9]+: ' "$ENGINE_LOG" | tail -n "+$((BATCHES0 + 1))" \
    | sed -E 's/.*info batch [0-9]+: ([0-9]+) records.*/\1/' | awk -v n="$COUNT" '{s += $1} END {exit !(s >= n)}'
}
wait_for 60 consumed || echo "continuous.sh: the engine had not read every produced record 60 s after the load" >&2
DRAINED_AT=$(date +%s%3N)
CPU1=$(cpu_ticks "$ENGINE_PID")
thread_ticks "$ENGINE_PID" > "$OUT/threads1.tsv"
BATCHES1=$(batch_lines)
HWM_KB=$(awk '/^VmHWM:/ {print $2}' "/proc/$ENGINE_PID/status")

log "stopping the engine (SIGTERM)"
kill -TERM "$ENGINE_PID"
wait "$ENGINE_PID" || echo "continuous.sh: the engine exited with status $?" >&2
ENGINE_PID=""

# The same events in one catch-up run (fresh directories, --until-caught-up), as the reference
# the continuous run's cost is read against: its CPU per event moves with the host as the
# continuous run's does (this 2-core host has measured the same build 1.6x apart on two days),
# so their ratio compares runs made on different days. A second start on the same directories,
# which finds nothing to do, measures start-up and shutdown; the reference is the difference.
CATCHUP_S=0
if [[ $CATCHUP == 1 ]]; then
  log "reference: the topic's $((COUNT + 1000)) events in one catch-up run, then a start with nothing to do"
  CATCHUP_S=$("$PY" - "$MEDALLION" run --brokers "$BROKERS" --topic "$TOPIC" --data-dir "$OUT/catchup-data" \
                --checkpoint-dir "$OUT/catchup-checkpoint" --until-caught-up ${EXTRA_RUN_ARGS[@]+"${EXTRA_RUN_ARGS[@]}"} \
                <<'PY' 2>> "$OUT/catchup.log"
import resource, subprocess, sys
def cpu_of(args):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(args, stdout=sys.stderr, stderr=sys.stderr, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
whole = cpu_of(sys.argv[1:])
idle = cpu_of(sys.argv[1:])
print(f"{max(whole - idle, 0.001):.3f}")
PY
) || CATCHUP_S=0
  [[ $CATCHUP_S == 0 ]] && echo "continuous.sh: the reference catch-up run failed (log: $OUT/catchup.log)" >&2
  rm -rf "$OUT/catchup-data" "$OUT/catchup-checkpoint"
fi

cat > "$OUT/run.json" <<EOF
{"command": "$COMMAND", "engine_args": "$(printf '%s ' "${RUN_ARGS[@]}")", "topic": "$TOPIC",
 "rate": $RATE, "seconds": $SECONDS_LOAD, "partitions": $PARTS, "events": $COUNT,
 "since_ms": $SINCE, "produced_ms": $PRODUCED_AT, "drained_ms": $DRAINED_AT,
 "batches_before": $BATCHES0, "batches_after": $BATCHES1,
 "cpu_ticks_before": $CPU0, "cpu_ticks_after": $CPU1, "clk_tck": $CLK_TCK, "vm_hwm_kb": $HWM_KB,
 "catchup_cpu_s": $CATCHUP_S, "catchup_events": $((COUNT + 1000))}
EOF

log "latency (bench/latency.py)"
"$PY" "$BENCH/latency.py" --engine medallion --data "$DATA" --since-ms "$SINCE" --json "$OUT/latency.json" \
  --engine-log "$OUT/engine.log" > /dev/null || echo "continuous.sh: bench/latency.py failed" >&2

REPORT_ARGS=(--out "$OUT")
if [[ $PERF == 1 && -s "$OUT/perf.data" ]]; then
  PR=(perf report -i "$OUT/perf.data" --no-children --stdio)
  "${PR[@]}" --percent-limit 1.5 2>/dev/null > "$OUT/perf-report.txt" || true
  "${PR[@]}" -g none --percent-limit 0.5 2>/dev/null > "$OUT/perf-flat.txt" || true
  "${PR[@]}" -g none --sort comm 2>/dev/null > "$OUT/perf-threads.txt" || true
  "${PR[@]}" -g none --sort dso 2>/dev/null > "$OUT/perf-dso.txt" || true
  perf script -i "$OUT/perf.data" -F comm,tid,ip,sym,dso 2>/dev/null > "$OUT/perf-script.txt" || true
  REPORT_ARGS+=(--perf-dir "$OUT")
fi
"$PY" "$BENCH/continuous_report.py" "${REPORT_ARGS[@]}" | tee "$OUT/report.txt"
echo "work directory: $OUT"

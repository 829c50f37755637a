#!/usr/bin/env bash
# medallion vs Spark Structured Streaming, same machine, same topic, same run.
#
#   bench/run.sh [--events N] [--partitions P] [--quick] [--skip-spark] [--skip-latency]
#                [--rate R] [--latency-seconds S] [--v2-fraction F] [--payments]
#
#   --events N         events pre-filled into the topic (default 5000000; --quick: 200000)
#   --partitions P     topic partitions (default 8)
#   --skip-spark       medallion and the ceilings only
#   --skip-latency     throughput only
#   --latency-only DIR measure latency only (both engines) and rewrite the report, keeping the
#                      throughput figures of an earlier run's work directory DIR
#   --rate R, --latency-seconds S   the steady load of the latency runs (default 20000/s for 20 s)
#   --latency-settings "ARGS"  medallion's flags in its latency run (default "--trigger-interval
#                      100ms --max-batch-wait 10ms"; e.g. add "--config F" for [delta] keys)
#   --v2-fraction F    share of the pre-filled events written as schema_version 2 (default 0:
#                      version 1 only, the stream of the published figures)
#   --payments         also produce a payments topic (bench-pay-STAMP, `produce --payments-topic`,
#                      same partitions) beside the orders; medallion then runs twice on the same
#                      orders topic: as without the flag (medallion.json, the orders-only figures)
#                      and with `--payments-topic` into its own data and checkpoint directories
#                      (medallion_join.json, medallion_join.log); Spark runs with --payments-topic
#                      (its figures include the join) and the agreement compares the join run's
#                      tables. The latency runs are unchanged (orders only).
#
# Steps: broker (started if not running, stopped again only if this script started it) ->
# fresh topic pre-filled by `medallion produce` (2% duplicates, 2% late, 0.5% malformed,
# 0.5% invalid) -> raw-consume ceilings (Kafka's ConsumerPerformance and a bare librdkafka loop)
# -> medallion --until-caught-up -> Spark availableNow -> agreement of their tables -> latency
# at a steady produce rate for both -> bench/results/results.md and results.png.
# Set-up on first use (needs network): bench/.venv-spark (pip, requirements-spark.txt) and
# bench/.deps/spark-jars (mvn, pom.xml). Nothing is downloaded while Spark runs.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/bench"
COMMAND="bench/run.sh${*:+ $*}"
LAT_SETTINGS="--trigger-interval 100ms --max-batch-wait 10ms"
LATENCY_ONLY="" EVENTS=5000000 PARTS=8 SKIP_SPARK=0 SKIP_LATENCY=0 RATE=20000 LAT_SECONDS=20 QUICK=0 V2_FRACTION=0
PAYMENTS=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --events) EVENTS="$2"; shift 2 ;;
    --partitions) PARTS="$2"; shift 2 ;;
    --quick) QUICK=1; EVENTS=200000; shift ;;
    --skip-spark) SKIP_SPARK=1; shift ;;
    --skip-latency) SKIP_LATENCY=1; shift ;;
    --latency-only) LATENCY_ONLY="$(cd "$2" && pwd)"; shift 2 ;;
    --rate) RATE="$2"; shift 2 ;;
    --latency-seconds) LAT_SECONDS="$2"; shift 2 ;;
    --latency-settings) LAT_SETTINGS="$2"; shift 2 ;;
    --v2-fraction) V2_FRACTION="$2"; shift 2 ;;
    --payments) PAYMENTS=1; shift ;;
    -h|--help) sed -n '2,31p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

log() { printf '\n== %s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { echo "run.sh: $*" >&2; exit 1; }

MEDALLION="${MEDALLION:-$ROOT/build/src/cli/medallion}"
KAFKA_SH="$ROOT/scripts/kafka.sh"
BROKERS="127.0.0.1:${MEDALLION_KAFKA_PORT:-19092}"
KAFKA_LIBS="${MEDALLION_KAFKA_LIBS:-$ROOT/.deps/kafka-libs}"
VENV="$BENCH/.venv-spark"
PY="$VENV/bin/python"
JARS_DIR="$BENCH/.deps/spark-jars"
export JAVA_HOME="${BENCH_JAVA_HOME:-/usr/lib/jvm/java-17-openjdk-amd64}"
STAMP="$(date +%Y%m%d-%H%M%S)"
WORK="${LATENCY_ONLY:-$BENCH/.work/run-$STAMP}"
if [[ -n $LATENCY_ONLY ]]; then
  EVENTS=$(grep -o 'produced [0-9]*' "$WORK/produce.txt" | grep -o '[0-9]*')
  COMMAND="$(cat "$WORK/command.txt"); then $COMMAND"
  rm -rf "$WORK/latency-medallion" "$WORK/latency-spark" "$WORK"/latency_*.json
fi
RESULTS="$BENCH/results"
mkdir -p "$WORK" "$RESULTS"

# ---- set-up --------------------------------------------------------------------------------
if [[ ! -x "$MEDALLION" ]]; then
  log "building medallion"
  ninja -C "$ROOT/build" -j1 medallion
fi
if [[ ! -x "$PY" ]] || ! "$PY" -c 'import pyspark, duckdb, deltalake, psutil, matplotlib' 2>/dev/null; then
  log "creating $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q -r "$BENCH/requirements-spark.txt"
fi
if [[ $SKIP_SPARK == 0 && -z "$(ls "$JARS_DIR"/spark-sql-kafka-*.jar 2>/dev/null)" ]]; then
  log "collecting Spark's Kafka connector jars"
  mvn -q -B -f "$BENCH/pom.xml" dependency:copy-dependencies -DoutputDirectory="$JARS_DIR"
fi
# A private copy, so a rebuild of the tree during the run cannot swap the binary under us.
[[ -n $LATENCY_ONLY && -x "$WORK/medallion-bin" ]] || cp "$MEDALLION" "$WORK/medallion-bin"
MEDALLION="$WORK/medallion-bin"
CEILING="$ROOT/build/bench/consume_ceiling"
[[ -x "$CEILING" ]] || ninja -C "$ROOT/build" -j1 consume_ceiling

STARTED_BROKER=0
TOPICS=()
cleanup() {
  [[ -n "${BG_PID:-}" ]] && kill "$BG_PID" 2>/dev/null || true
  for t in "${TOPICS[@]}"; do bash "$KAFKA_SH" topic-delete "$t" >/dev/null 2>&1 || true; done
  if [[ $STARTED_BROKER == 1 ]]; then bash "$KAFKA_SH" stop >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
if ! bash "$KAFKA_SH" status >/dev/null 2>&1; then
  log "starting the broker"
  bash "$KAFKA_SH" start
  STARTED_BROKER=1
fi

SPARK_SUBMIT=(env PATH="$VENV/bin:$PATH" SPARK_HOME="$("$PY" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')"
              PYSPARK_PYTHON="$PY" "$VENV/bin/spark-submit" --master 'local[2]' --driver-memory 6g
              --jars "$(ls "$JARS_DIR"/*.jar 2>/dev/null | paste -sd, - || true)"
              --conf spark.sql.shuffle.partitions=4 --conf spark.sql.session.timeZone=UTC
              --conf spark.ui.enabled=false --conf spark.sql.ansi.enabled=false
              "$BENCH/spark_job.py")
FRACTIONS=(--duplicate-fraction 0.02 --late-fraction 0.02 --malformed-fraction 0.005 --invalid-fraction 0.005)
if [[ $V2_FRACTION != 0 ]]; then FRACTIONS+=(--v2-fraction "$V2_FRACTION"); fi

if [[ -z $LATENCY_ONLY ]]; then
echo "$COMMAND" > "$WORK/command.txt"
# ---- 1. the input --------------------------------------------------------------------------
TOPIC="bench-tp-$STAMP"
TOPICS+=("$TOPIC")
PAY_ARGS=()  # the payments topic, for produce, the join run of medallion and Spark (--payments)
if [[ $PAYMENTS == 1 ]]; then
  PAY_TOPIC="bench-pay-$STAMP"
  TOPICS+=("$PAY_TOPIC")
  PAY_ARGS=(--payments-topic "$PAY_TOPIC")
  log "producing $EVENTS events to $TOPIC and their payments to $PAY_TOPIC ($PARTS partitions each)"
else
  log "producing $EVENTS events to $TOPIC ($PARTS partitions)"
fi
"$MEDALLION" produce --brokers "$BROKERS" --topic "$TOPIC" --create-topic-partitions "$PARTS" \
  --count "$EVENTS" --seed 42 "${FRACTIONS[@]}" "${PAY_ARGS[@]}" > "$WORK/produce.log" 2>&1 \
  || { tail -n 20 "$WORK/produce.log" >&2; die "produce failed (log: $WORK/produce.log)"; }
tail -n 1 "$WORK/produce.log" | tee "$WORK/produce.txt"

# ---- 2. ceilings ---------------------------------------------------------------------------
log "ceiling: Kafka ConsumerPerformance"
java -Xmx1g -cp "$KAFKA_LIBS/*" org.apache.kafka.tools.ConsumerPerformance --bootstrap-server "$BROKERS" \
  --topic "$TOPIC" --messages "$EVENTS" 2>/dev/null | grep -E '^[0-9]{4}-' | tail -n 1 > "$WORK/ceiling_kafka.txt"
cat "$WORK/ceiling_kafka.txt"
log "ceiling: bare librdkafka consume loop"
"$CEILING" --brokers "$BROKERS" --topic "$TOPIC" | tee "$WORK/ceiling_rdkafka.json"
log "floor: the same loop, writing only a Bronze Parquet file per 48 MiB"
"$CEILING" --brokers "$BROKERS" --topic "$TOPIC" --bronze-dir "$WORK/bronze-floor" | tee "$WORK/floor_bronze.json"
rm -rf "$WORK/bronze-floor"

# ---- 3. medallion --------------------------------------------------------------------------
log "medallion run --until-caught-up"
"$PY" "$BENCH/measure.py" "$WORK/medallion.json" -- "$MEDALLION" run --brokers "$BROKERS" --topic "$TOPIC" \
  --data-dir "$WORK/medallion/data" --checkpoint-dir "$WORK/medallion/checkpoint" --until-caught-up \
  > "$WORK/medallion.log" 2>&1 \
  || { tail -n 30 "$WORK/medallion.log" >&2; die "medallion failed (log: $WORK/medallion.log)"; }
tail -n 3 "$WORK/medallion.log" | cut -c1-240
if [[ $PAYMENTS == 1 ]]; then
  log "medallion run --until-caught-up --payments-topic $PAY_TOPIC (same orders topic, own data and checkpoint)"
  "$PY" "$BENCH/measure.py" "$WORK/medallion_join.json" -- "$MEDALLION" run --brokers "$BROKERS" --topic "$TOPIC" \
    "${PAY_ARGS[@]}" --group-id medallion-join \
    --data-dir "$WORK/medallion_join/data" --checkpoint-dir "$WORK/medallion_join/checkpoint" --until-caught-up \
    > "$WORK/medallion_join.log" 2>&1 \
    || { tail -n 30 "$WORK/medallion_join.log" >&2; die "medallion (join) failed (log: $WORK/medallion_join.log)"; }
  tail -n 4 "$WORK/medallion_join.log" | cut -c1-240
  AGREE_DATA="$WORK/medallion_join/data"
else
  AGREE_DATA="$WORK/medallion/data"
fi

# ---- 4. Spark ------------------------------------------------------------------------------
if [[ $SKIP_SPARK == 0 ]]; then
  log "Spark Structured Streaming, availableNow"
  "$PY" "$BENCH/measure.py" "$WORK/spark.json" -- "${SPARK_SUBMIT[@]}" --topic "$TOPIC" --brokers "$BROKERS" \
    --out "$WORK/spark/data" --checkpoint "$WORK/spark/checkpoint" "${PAY_ARGS[@]}" > "$WORK/spark.log" 2>&1 \
    || { tail -n 30 "$WORK/spark.log" >&2; die "the Spark job failed (log: $WORK/spark.log)"; }
  tail -n 1 "$WORK/spark.log"
  log "agreement"
  "$PY" "$BENCH/agree.py" --medallion "$AGREE_DATA" --spark "$WORK/spark/data" \
    --json "$WORK/agree.json" || true
fi

fi  # not --latency-only

# ---- 5. latency ----------------------------------------------------------------------------
LAT_COUNT=$((RATE * LAT_SECONDS))
wait_for() {  # wait_for SECONDS COMMAND...: polls until the command succeeds
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [[ $SECONDS -ge $deadline ]] && return 1
    sleep 0.5
  done
}
steady_load() {  # steady_load TOPIC: warm-up done; prints the start time in ms, then produces
  "$MEDALLION" produce --brokers "$BROKERS" --topic "$1" --count "$LAT_COUNT" --seed 43 --rate "$RATE" \
    "${FRACTIONS[@]}" 2>&1 | tail -n 1
}
if [[ $SKIP_LATENCY == 0 ]]; then
  log "latency: medallion ($LAT_SETTINGS), $RATE events/s for $LAT_SECONDS s"
  LT="bench-lat-m-$STAMP"; TOPICS+=("$LT"); L="$WORK/latency-medallion"
  "$MEDALLION" produce --brokers "$BROKERS" --topic "$LT" --create-topic-partitions "$PARTS" --count 1000 --seed 41 >/dev/null 2>&1
  "$MEDALLION" run --brokers "$BROKERS" --topic "$LT" --data-dir "$L/data" --checkpoint-dir "$L/checkpoint" \
    $LAT_SETTINGS > "$L.log" 2>&1 &  # words: flags and their values
  BG_PID=$!
  wait_for 60 test -e "$L/data/silver/order_lines/_delta_log/00000000000000000000.json" || die "medallion did not start"
  SINCE=$(date +%s%3N)
  steady_load "$LT"
  sleep 5
  kill -INT "$BG_PID"; wait "$BG_PID" || true; BG_PID=""
  "$PY" "$BENCH/latency.py" --engine medallion --data "$L/data" --since-ms "$SINCE" --json "$WORK/latency_medallion.json" \
    --engine-log "$L.log"

  if [[ $SKIP_SPARK == 0 ]]; then
    log "latency: Spark, processingTime 100ms, $RATE events/s for $LAT_SECONDS s"
    LT="bench-lat-s-$STAMP"; TOPICS+=("$LT"); L="$WORK/latency-spark"
    "$MEDALLION" produce --brokers "$BROKERS" --topic "$LT" --create-topic-partitions "$PARTS" --count 1000 --seed 41 >/dev/null 2>&1
    mkdir -p "$L"
    "${SPARK_SUBMIT[@]}" --topic "$LT" --brokers "$BROKERS" --out "$L/data" --checkpoint "$L/checkpoint" \
      --trigger "100 milliseconds" --duration 900 --stop-file "$L/stop" --commit-log "$L/commits.jsonl" \
      > "$L.log" 2>&1 &
    BG_PID=$!
    wait_for 300 test -s "$L/commits.jsonl" || die "Spark did not start (log: $L.log)"
    SINCE=$(date +%s%3N)
    steady_load "$LT"
    # Wait until both of Spark's queries have committed a batch that ends at the topic's end
    # (warm-up + steady load), up to 300 s; Spark is reported with what it had done by then.
    wait_for 300 "$PY" -c "
import glob, json, os, sys
for q in ('curated', 'raw'):
    c = '$L/checkpoint/' + q
    done = [int(os.path.basename(p)) for p in glob.glob(c + '/commits/[0-9]*')]
    if not done:
        sys.exit(1)
    offsets = json.loads(open(c + '/offsets/%d' % max(done)).read().splitlines()[-1])
    if sum(sum(p.values()) for p in offsets.values()) < 1000 + $LAT_COUNT:
        sys.exit(1)" || echo "Spark had not caught up after 300 s" >&2
    touch "$L/stop"; wait "$BG_PID" || true; BG_PID=""
    "$PY" "$BENCH/latency.py" --engine spark --data "$L/data" --commit-log "$L/commits.jsonl" --since-ms "$SINCE" \
      --json "$WORK/latency_spark.json"
  fi
fi

# ---- 6. report -----------------------------------------------------------------------------
log "report"
"$PY" "$BENCH/report.py" --work "$WORK" --events "$EVENTS" --partitions "$PARTS" --rate "$RATE" \
  --latency-seconds "$LAT_SECONDS" --command "$COMMAND" --medallion "$MEDALLION" --out "$RESULTS" \
  --latency-settings="$LAT_SETTINGS"
echo "results: $RESULTS/results.md, $RESULTS/results.png (raw figures: $WORK)"

#!/usr/bin/env bash
# The Bronze floor per Parquet codec: one topic of the bench mix, then `consume_ceiling
# --bronze-dir` (read every record, copy it into a Bronze batch, write a Parquet file per
# 48 MiB with medallion's own writer and column settings) once per codec, back to back.
#
#   bench/bronze_codecs.sh [--events N] [--partitions P] [--rounds R]
#
#   --events N      events produced (default 1000000)
#   --partitions P  topic partitions (default 8)
#   --rounds R      runs per codec, interleaved (default 2); the table gives each codec's
#                   lowest CPU (the least disturbed run) and the spread
#
# Prints a Markdown table (codec, events/s, CPU-s per 1M events, Bronze bytes) and keeps it in
# bench/results/bronze_codecs.md. The bare consume loop (no Bronze) is the first line.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
EVENTS=1000000 PARTS=8 ROUNDS=2
while [[ $# -gt 0 ]]; do
  case "$1" in
    --events) EVENTS="$2"; shift 2 ;;
    --partitions) PARTS="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "bronze_codecs.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

MEDALLION="$ROOT/build/src/cli/medallion"
CEILING="$ROOT/build/bench/consume_ceiling"
KAFKA_SH="$ROOT/scripts/kafka.sh"
BROKERS="127.0.0.1:${MEDALLION_KAFKA_PORT:-19092}"
WORK="$ROOT/bench/.work/codecs-$(date +%Y%m%d-%H%M%S)"
TOPIC="bench-codecs-$(date +%s)"
mkdir -p "$WORK" "$ROOT/bench/results"
[[ -x $MEDALLION && -x $CEILING ]] || ninja -C "$ROOT/build" -j1 medallion consume_ceiling

STARTED_BROKER=0
cleanup() {
  bash "$KAFKA_SH" topic-delete "$TOPIC" >/dev/null 2>&1 || true
  rm -rf "$WORK/bronze"
  if [[ $STARTED_BROKER == 1 ]]; then bash "$KAFKA_SH" stop >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
if ! bash "$KAFKA_SH" status >/dev/null 2>&1; then
  bash "$KAFKA_SH" start
  STARTED_BROKER=1
fi

"$MEDALLION" produce --brokers "$BROKERS" --topic "$TOPIC" --create-topic-partitions "$PARTS" --count "$EVENTS" \
  --seed 42 --duplicate-fraction 0.02 --late-fraction 0.02 --malformed-fraction 0.005 --invalid-fraction 0.005 \
  > "$WORK/produce.log" 2>&1 || { tail -n 20 "$WORK/produce.log" >&2; exit 1; }

# name|consume_ceiling arguments (empty name: no Bronze)
CODECS=("consume only|" "zstd level 3|--compression zstd --compression-level 3"
        "zstd level 1 (zstd's default)|--compression zstd" "zstd level -1|--compression zstd --compression-level -1"
        "zstd level -5|--compression zstd --compression-level -5" "lz4_raw|--compression lz4_raw"
        "snappy|--compression snappy" "none|--compression none"
        "zstd level 1, Arrow's writer|--compression zstd --writer arrow")
for round in $(seq 1 "$ROUNDS"); do
  for i in "${!CODECS[@]}"; do
    args="${CODECS[$i]#*|}"
    if [[ -n $args ]]; then args="--bronze-dir $WORK/bronze $args"; fi
    # shellcheck disable=SC2086  # the arguments are words
    "$CEILING" --brokers "$BROKERS" --topic "$TOPIC" $args > "$WORK/codec-$i-$round.json"
    rm -rf "$WORK/bronze"
    echo "round $round: ${CODECS[$i]%%|*}: $(cat "$WORK/codec-$i-$round.json")" >&2
  done
done

names=()
for c in "${CODECS[@]}"; do names+=("${c%%|*}"); done
python3 - "$WORK" "$ROUNDS" "${names[@]}" <<'PY' | tee "$ROOT/bench/results/bronze_codecs.md"
import json, sys
work, rounds, names = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
print("| Bronze codec | events/s | CPU-s per 1M events (min; spread) | Bronze bytes | bytes vs zstd 1 |")
print("|---|---:|---:|---:|---:|")
runs = [[json.load(open(f"{work}/codec-{i}-{r}.json")) for r in range(1, rounds + 1)] for i in range(len(names))]
base = next((min(r, key=lambda x: x["cpu_s"]).get("bronze_bytes") for n, r in zip(names, runs) if n.startswith("zstd level 1")), None)
for name, rs in zip(names, runs):
    per_m = [r["cpu_s"] / r["events"] * 1e6 for r in rs]
    best = min(rs, key=lambda x: x["cpu_s"])
    size = best.get("bronze_bytes")
    print(f"| {name} | {best['events_per_s']:,.0f} | {min(per_m):.2f} ({min(per_m):.2f}-{max(per_m):.2f}) | "
          + (f"{size / 1e6:,.1f} MB | {size / base:.2f} |" if size else "- | - |"))
PY

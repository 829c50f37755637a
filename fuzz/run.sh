#!/usr/bin/env bash
# Runs a libFuzzer target of build-fuzz/ over its seeds (read only: fuzz/corpus for
# parse_fuzz, fuzz/corpus_payments for payment_parse_fuzz, fuzz/corpus_delta_log for
# delta_log_fuzz; state_fuzz, delta_checkpoint_fuzz and parquet_concat_fuzz write their own into
# fuzz/work/<target>.seeds before each run, from this build's formats) and
# a working corpus that grows between runs (fuzz/work/<target>, git-ignored), with the JSON
# dictionary for the JSON targets. Extra arguments go to libFuzzer (-runs=N or -max_total_time=S).
#
# FUZZ_JOBS=J runs J fuzzer processes side by side on the one working corpus (each reloads
# the units the others add); -runs=N is then split so that the J processes execute N inputs
# in all, and a run that ends with fewer than N executed fails. The total is printed.
#
# A crash, a leak, a UBSan report or a broken invariant fails the run (exit 1; the other
# processes are stopped); the input is left in fuzz/crashes/ (crash-<sha1>, leak-...,
# timeout-...) and the command that replays it is printed. Environment: FUZZ_BUILD_DIR
# (build-fuzz), FUZZ_TARGET (parse_fuzz), FUZZ_MAX_LEN (16384; state_fuzz 131072, delta_checkpoint_fuzz and parquet_concat_fuzz 65536), FUZZ_JOBS (1).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${FUZZ_BUILD_DIR:-$ROOT/build-fuzz}"
TARGET="${FUZZ_TARGET:-parse_fuzz}"
JOBS="${FUZZ_JOBS:-1}"
BIN="$BUILD/fuzz/$TARGET"
CRASHES="$ROOT/fuzz/crashes"
WORK="$ROOT/fuzz/work/$TARGET"
DICT=(-dict="$ROOT/fuzz/json.dict")
MAX_LEN="${FUZZ_MAX_LEN:-16384}"
case "$TARGET" in
  payment_parse_fuzz) SEEDS="$ROOT/fuzz/corpus_payments" ;;
  delta_log_fuzz) SEEDS="$ROOT/fuzz/corpus_delta_log" ;;
  # State snapshots are binary (a dictionary of edge integers instead of JSON's) and larger
  # than a record: the whole state file of the seeds is about 72 KB.
  state_fuzz) SEEDS="$WORK.seeds" DICT=(-dict="$ROOT/fuzz/state.dict") MAX_LEN="${FUZZ_MAX_LEN:-131072}" ;;
  # Checkpoints are Parquet files of a few KB: the edge integers' dictionary, and room for them.
  delta_checkpoint_fuzz) SEEDS="$WORK.seeds" DICT=(-dict="$ROOT/fuzz/state.dict") MAX_LEN="${FUZZ_MAX_LEN:-65536}" ;;
  parquet_concat_fuzz) SEEDS="$WORK.seeds" DICT=(-dict="$ROOT/fuzz/state.dict") MAX_LEN="${FUZZ_MAX_LEN:-65536}" ;;
  *) SEEDS="$ROOT/fuzz/corpus" ;;
esac
[[ -x "$BIN" ]] || { echo "fuzz: $BIN not built (make fuzz-build)" >&2; exit 2; }
if [[ "$TARGET" == state_fuzz ]]; then
  rm -rf "$SEEDS"
  MEDALLION_STATE_FUZZ_SEEDS="$SEEDS" "$BIN"
elif [[ "$TARGET" == delta_checkpoint_fuzz ]]; then
  rm -rf "$SEEDS"
  MEDALLION_CHECKPOINT_FUZZ_SEEDS="$SEEDS" "$BIN"
  cp "$ROOT"/fuzz/corpus_delta_checkpoint/* "$SEEDS"/  # its findings, kept as seeds
elif [[ "$TARGET" == parquet_concat_fuzz ]]; then
  rm -rf "$SEEDS"
  MEDALLION_CONCAT_FUZZ_SEEDS="$SEEDS" "$BIN"
fi
[[ "$JOBS" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz: FUZZ_JOBS must be a positive integer, not '$JOBS'" >&2; exit 2; }
mkdir -p "$CRASHES" "$WORK"

# -runs=N is the total over the jobs: each runs its share, rounded up.
want=0
args=()
for a in "$@"; do
  if [[ "$a" =~ ^-runs=([0-9]+)$ ]]; then
    want=${BASH_REMATCH[1]}
    a="-runs=$(((want + JOBS - 1) / JOBS))"
  fi
  args+=("$a")
done

# Arrow (from the pyarrow wheel) is not instrumented: container-overflow annotations cannot be
# trusted across it, so that one check is off; everything else of ASan and UBSan is on. Short
# allocation stacks (malloc_context_size=4): recording 30 frames per malloc was a fifth of the time.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_container_overflow=0:abort_on_error=1:malloc_context_size=4}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
command -v llvm-symbolizer-14 >/dev/null && export ASAN_SYMBOLIZER_PATH="$(command -v llvm-symbolizer-14)"

logs=()
pids=()
for ((j = 1; j <= JOBS; ++j)); do
  log="$WORK.log"
  ((JOBS == 1)) || log="$WORK.$j.log"
  logs+=("$log")
  "$BIN" "${DICT[@]}" -max_len="$MAX_LEN" -timeout=10 \
    -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$CRASHES/" "${args[@]}" \
    "$WORK" "$SEEDS" >"$log" 2>&1 &
  pids+=($!)
done
trap 'kill "${pids[@]}" 2>/dev/null || true' INT TERM

start_ms=$(($(date +%s%N) / 1000000))
failed=()
live=("${pids[@]}")
while ((${#live[@]} > 0)); do
  set +e
  wait -n -p done_pid "${live[@]}"
  rc=$?
  set -e
  still=()
  for p in "${live[@]}"; do
    if [[ "$p" != "$done_pid" ]]; then still+=("$p"); fi
  done
  live=("${still[@]+"${still[@]}"}")
  # The first job to fail is the finding; the others are then stopped (by their ids) rather
  # than waited for, and their exit (interrupted) is not one.
  if ((rc != 0 && ${#failed[@]} == 0)); then
    for ((j = 0; j < JOBS; ++j)); do
      if [[ "${pids[$j]}" == "$done_pid" ]]; then failed+=("$j:$rc"); fi
    done
    for p in "${live[@]+"${live[@]}"}"; do kill "$p" 2>/dev/null || true; done
  fi
done
ms=$(($(date +%s%N) / 1000000 - start_ms))

total=0
for log in "${logs[@]}"; do
  n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  total=$((total + ${n:-0}))
  grep -E "^stat::peak_rss_mb" "$log" | sed "s/^/fuzz: $TARGET /" || true
done
echo "fuzz: $TARGET executed $total inputs in $((ms / 1000)) s ($((total * 1000 / (ms > 0 ? ms : 1)))/s," \
  "$JOBS job(s); log: ${logs[*]})"

if ((${#failed[@]} > 0)); then
  for f in "${failed[@]}"; do
    log="${logs[${f%%:*}]}"
    grep -E "invariant broken|runtime error|ERROR: AddressSanitizer|ERROR: LeakSanitizer|ERROR: libFuzzer|SUMMARY" "$log" | head -5 >&2
    artifact="$(grep -o "Test unit written to .*" "$log" | tail -1 | sed 's/Test unit written to //')"
    echo "fuzz: $TARGET FAILED (exit ${f#*:}); input: ${artifact:-see $log}" >&2
    [[ -n "$artifact" ]] && echo "fuzz: replay with: $BIN $artifact" >&2
  done
  exit 1
fi
if ((want > 0 && total < want)); then
  echo "fuzz: $TARGET FAILED: executed $total inputs, fewer than the $want asked for" >&2
  exit 1
fi

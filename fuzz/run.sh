#!/usr/bin/env bash
# Runs a libFuzzer target of build-fuzz/ over the committed seeds (fuzz/corpus, read only) and
# a working corpus that grows between runs (fuzz/work/<target>, git-ignored), with the JSON
# dictionary. Extra arguments go to libFuzzer (-runs=N or -max_total_time=S).
#
# A crash, a leak, a UBSan report or a broken invariant fails the run (exit 1); the input is
# left in fuzz/crashes/ (crash-<sha1>, leak-..., timeout-...) and the command that replays it
# is printed. Environment: FUZZ_BUILD_DIR (build-fuzz), FUZZ_TARGET (parse_fuzz),
# FUZZ_MAX_LEN (16384).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${FUZZ_BUILD_DIR:-$ROOT/build-fuzz}"
TARGET="${FUZZ_TARGET:-parse_fuzz}"
BIN="$BUILD/fuzz/$TARGET"
CRASHES="$ROOT/fuzz/crashes"
WORK="$ROOT/fuzz/work/$TARGET"
[[ -x "$BIN" ]] || { echo "fuzz: $BIN not built (make fuzz-build)" >&2; exit 2; }
mkdir -p "$CRASHES" "$WORK"

# Arrow (from the pyarrow wheel) is not instrumented: container-overflow annotations cannot be
# trusted across it, so that one check is off; everything else of ASan and UBSan is on. Short
# allocation stacks (malloc_context_size=4): recording 30 frames per malloc was a fifth of the time.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_container_overflow=0:abort_on_error=1:malloc_context_size=4}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
command -v llvm-symbolizer-14 >/dev/null && export ASAN_SYMBOLIZER_PATH="$(command -v llvm-symbolizer-14)"

start=$(date +%s)
set +e
"$BIN" -dict="$ROOT/fuzz/json.dict" -max_len="${FUZZ_MAX_LEN:-16384}" -timeout=10 \
  -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$CRASHES/" "$@" \
  "$WORK" "$ROOT/fuzz/corpus" >"$WORK.log" 2>&1
rc=$?
set -e
grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" "$WORK.log" | sed "s/^/fuzz: $TARGET /" || true
echo "fuzz: $TARGET ran $(($(date +%s) - start)) s (log: $WORK.log)"
if ((rc != 0)); then
  grep -E "invariant broken|runtime error|ERROR: AddressSanitizer|ERROR: libFuzzer|SUMMARY" "$WORK.log" | head -5 >&2
  artifact="$(grep -o "Test unit written to .*" "$WORK.log" | tail -1 | sed 's/Test unit written to //')"
  echo "fuzz: $TARGET FAILED (exit $rc); input: ${artifact:-see the log}" >&2
  [[ -n "$artifact" ]] && echo "fuzz: replay with: $BIN $artifact" >&2
  exit 1
fi

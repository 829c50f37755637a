#!/usr/bin/env bash
# Installs what the Spark interoperability test (tests/spark) needs, and nothing when it is all
# there already (a second run takes about a second):
#   1. the venv .venv-spark with pyspark (Spark itself, as jars inside the wheel) pinned to the
#      version that delta-spark supports, plus pytest, pyarrow and deltalake to compare with;
#   2. delta-spark and delta-storage (scripts/spark/pom.xml) in .deps/delta-spark-jars, so Spark
#      gets them with spark.jars and downloads nothing at run time.
# Each step is skipped while the hash of its inputs matches a stamp file. Java 17 and Maven come
# from scripts/bootstrap.sh (`make bootstrap`).
#
# Environment:
#   MEDALLION_SPARK_VENV  venv directory (default <repo>/.venv-spark)
#   MEDALLION_PYTHON      interpreter that creates the venv (default python3)
#   MEDALLION_FORCE=1     ignore the stamps and redo both steps
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEPS="$ROOT/.deps"
STAMPS="$DEPS/stamps"
VENV="${MEDALLION_SPARK_VENV:-$ROOT/.venv-spark}"
PYTHON="${MEDALLION_PYTHON:-python3}"
POM="$ROOT/scripts/spark/pom.xml"
JARS="$DEPS/delta-spark-jars"

# pyspark must match delta-spark's Spark line (delta-spark 4.0.x <-> Spark 4.0.x, Scala 2.13).
REQUIREMENTS=(
  pyspark==4.0.0
  pytest==9.2.0
  pyarrow==26.0.1
  deltalake==1.6.6
)

log() { echo "spark_env: $*" >&2; }
die() { log "error: $*"; exit 1; }

# Prints the hash of the given words plus the contents of the given files, to key a stamp.
inputs_hash() {
  local words="$1"; shift
  { echo "$words"; cat "$@"; } | sha256sum | cut -d' ' -f1
}

java_major() {
  java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1
}

check_tools() {
  command -v java >/dev/null || die "java not found; run \`make bootstrap\` (Java 17)"
  local major
  major="$(java_major)"
  [[ -n "$major" && "$major" -ge 17 ]] || die "Spark 4.0 needs Java 17 or newer (found: $major)"
  command -v mvn >/dev/null || die "mvn not found; run \`make bootstrap\`"
  command -v "$PYTHON" >/dev/null || die "$PYTHON not found"
}

ensure_venv() {
  local want stamp="$VENV/.medallion-spark.sha256"
  want="$(inputs_hash "$VENV ${REQUIREMENTS[*]} $("$PYTHON" --version 2>&1)")"
  # The stamp lives inside the venv, so a deleted or recreated venv is never taken as current.
  if [[ "${MEDALLION_FORCE:-0}" != 1 && -x "$VENV/bin/python" && -f "$stamp" \
        && "$(cat "$stamp")" == "$want" ]] && "$VENV/bin/python" -c '' 2>/dev/null; then
    return 0
  fi
  if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c '' 2>/dev/null; then
    log "creating venv $VENV with $("$PYTHON" --version 2>&1)"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
  fi
  log "installing ${REQUIREMENTS[*]} into $VENV (pyspark is a large download the first time)"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${REQUIREMENTS[@]}" \
    || die "pip install failed"
  "$VENV/bin/python" -c 'import pyspark, pyarrow, deltalake, pytest' \
    || die "the venv cannot import its requirements"
  echo "$want" >"$stamp"
  log "venv ready: pyspark $("$VENV/bin/python" -c 'import pyspark; print(pyspark.__version__)')"
}

ensure_jars() {
  local want stamp="$STAMPS/delta-spark-jars.sha256"
  want="$(inputs_hash "delta-spark-jars" "$POM")"
  if [[ "${MEDALLION_FORCE:-0}" != 1 && -f "$stamp" && "$(cat "$stamp")" == "$want" ]] \
      && compgen -G "$JARS/delta-spark_*.jar" >/dev/null; then
    return 0
  fi
  log "collecting delta-spark jars (scripts/spark/pom.xml) into $JARS"
  mkdir -p "$STAMPS"
  # Copy into a fresh directory and swap it in, so jars of an older pom never linger beside
  # the new ones on Spark's classpath.
  local fresh="$JARS.new" mvn_log="$DEPS/mvn-delta-spark.log"
  rm -rf "$fresh"
  if ! mvn -q -B -Dstyle.color=never -f "$POM" dependency:copy-dependencies \
        -DoutputDirectory="$fresh" >"$mvn_log" 2>&1; then
    tail -n 30 "$mvn_log" >&2
    die "mvn dependency:copy-dependencies failed (full log: $mvn_log)"
  fi
  compgen -G "$fresh/delta-spark_*.jar" >/dev/null || die "no delta-spark jar in $fresh"
  rm -rf "$JARS.old"
  if [[ -d "$JARS" ]]; then mv "$JARS" "$JARS.old"; fi
  mv "$fresh" "$JARS"
  rm -rf "$JARS.old"
  echo "$want" >"$stamp"
  log "delta-spark jars ready: $(cd "$JARS" && ls -- *.jar | paste -sd' ' -)"
}

main() {
  [[ -f "$POM" ]] || die "run from a medallion checkout ($ROOT)"
  check_tools
  mkdir -p "$DEPS"
  ensure_venv
  ensure_jars
}

main "$@"

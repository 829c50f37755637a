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
  confluent-kafka==2.16.1
)

log() { echo "spark_env: $*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=scripts/deps_lib.sh
source "$ROOT/scripts/deps_lib.sh"


check_tools() {
  command -v java >/dev/null || die "java not found; run \`make bootstrap\` (Java 17)"
  local major
  major="$(java_major)"
  [[ -n "$major" && "$major" -ge 17 ]] || die "Spark 4.0 needs Java 17 or newer (found: $major)"
  command -v mvn >/dev/null || die "mvn not found; run \`make bootstrap\`"
  command -v "$PYTHON" >/dev/null || die "$PYTHON not found"
}

ensure_venv() {
  # pyspark is a large download the first time.
  ensure_venv_with "$VENV" .medallion-spark.sha256 \
    "$(inputs_hash "$VENV ${REQUIREMENTS[*]} $("$PYTHON" --version 2>&1)")" \
    "pyspark, pyarrow, deltalake, pytest, confluent_kafka" "${REQUIREMENTS[@]}"
}

ensure_jars() {
  collect_jars delta-spark "$POM" "$JARS" 'delta-spark_*.jar'
}

main() {
  [[ -f "$POM" ]] || die "run from a medallion checkout ($ROOT)"
  check_tools
  mkdir -p "$DEPS"
  ensure_venv
  ensure_jars
}

main "$@"

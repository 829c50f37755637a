#!/usr/bin/env bash
# Installs what medallion needs to build, test and run on Debian 12, and nothing when it is all
# there already (a second run takes well under a second):
#   1. Debian packages (compilers, librdkafka, simdjson, ..., Java 17 and Maven for the broker);
#   2. the Python venv (.venv) with the pinned requirements.txt (pyarrow also carries the Arrow
#      C++ libraries the engine links);
#   3. the Apache Kafka jars of scripts/kafka/pom.xml in .deps/kafka-libs (for scripts/kafka.sh);
#   4. Azurite, the Azure Storage emulator (scripts/azurite/package.json, npm) in .deps/azurite,
#      for the Azure tests.
# Steps 2 to 4 are skipped while the hash of their inputs matches a stamp file.
#
# Environment:
#   MEDALLION_VENV        venv directory (default <repo>/.venv)
#   MEDALLION_PYTHON      interpreter that creates the venv (default python3)
#   MEDALLION_SKIP_APT=1  do not check or install Debian packages
#   MEDALLION_FORCE=1     ignore the stamps and redo steps 2 and 3
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEPS="$ROOT/.deps"
STAMPS="$DEPS/stamps"
VENV="${MEDALLION_VENV:-$ROOT/.venv}"
PYTHON="${MEDALLION_PYTHON:-python3}"
REQUIREMENTS="$ROOT/requirements.txt"
POM="$ROOT/scripts/kafka/pom.xml"
KAFKA_LIBS="$DEPS/kafka-libs"

APT_PACKAGES=(
  make cmake ninja-build g++ pkg-config git
  librdkafka-dev libsimdjson-dev libtomlplusplus-dev libcli11-dev libspdlog-dev
  libgtest-dev libgmock-dev
  clang-14 libclang-rt-14-dev llvm-14
  time ca-certificates openssl
  libcpp-httplib-dev prometheus chromium
  libcurl4-openssl-dev libssl-dev
)

log() { echo "bootstrap: $*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=scripts/deps_lib.sh
source "$ROOT/scripts/deps_lib.sh"

# Runs a command as root (directly, or through sudo when we are not root).
as_root() {
  if [[ $(id -u) -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo DEBIAN_FRONTEND=noninteractive "$@"
  else
    die "need root to run: $*"
  fi
}

# Prints the hash of the given files plus any extra words, to key a stamp.

ensure_apt_packages() {
  local wanted=("${APT_PACKAGES[@]}") missing=()
  local major
  major="$(command -v java >/dev/null && java_major || true)"
  if [[ -z "$major" || "$major" -lt 17 ]]; then wanted+=(openjdk-17-jre-headless); fi
  command -v mvn >/dev/null || wanted+=(maven)
  command -v npm >/dev/null || wanted+=(npm)
  if ! command -v "$PYTHON" >/dev/null; then
    wanted+=(python3 python3-venv)
  elif [[ ! -x "$VENV/bin/python" ]] && ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
    wanted+=(python3-venv)
  fi
  # One dpkg-query for all: a package that is unknown or not fully installed is missing.
  local status
  status="$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${wanted[@]}" 2>/dev/null || true)"
  local p
  for p in "${wanted[@]}"; do
    awk -v p="$p" '$1 == p && $2 == "ii" { found = 1 } END { exit !found }' <<<"$status" \
      || missing+=("$p")
  done
  if ((${#missing[@]} == 0)); then
    return 0
  fi
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  mkdir -p "$DEPS"
  local apt_log="$DEPS/apt.log"
  if ! { as_root apt-get update -q && as_root apt-get install -y -q --no-install-recommends \
          "${missing[@]}"; } >"$apt_log" 2>&1; then
    tail -n 30 "$apt_log" >&2
    die "apt-get failed (full log: $apt_log)"
  fi
  log "Debian packages installed"
}

ensure_venv() {
  ensure_venv_with "$VENV" .medallion-requirements.sha256 "$(inputs_hash "$VENV" "$REQUIREMENTS")" \
    "pyarrow, duckdb, deltalake, pytest" -r "$REQUIREMENTS"
}

ensure_kafka_libs() {
  collect_jars kafka-libs "$POM" "$KAFKA_LIBS" 'kafka_2.13-*.jar'
}

ensure_azurite() {
  local dir="$DEPS/azurite" package="$ROOT/scripts/azurite/package.json"
  local want stamp="$STAMPS/azurite.sha256"
  want="$(inputs_hash azurite "$package")"
  if [[ "${MEDALLION_FORCE:-0}" != 1 && -f "$stamp" && "$(cat "$stamp")" == "$want" \
        && -x "$dir/node_modules/.bin/azurite-blob" ]]; then
    return 0
  fi
  log "installing Azurite (scripts/azurite/package.json) into $dir"
  mkdir -p "$dir" "$STAMPS"
  cp "$package" "$dir/package.json"
  local npm_log="$DEPS/npm-azurite.log"
  if ! (cd "$dir" && npm install --no-audit --no-fund --omit=dev) >"$npm_log" 2>&1; then
    tail -n 30 "$npm_log" >&2
    die "npm install of Azurite failed (full log: $npm_log)"
  fi
  [[ -x "$dir/node_modules/.bin/azurite-blob" ]] || die "no azurite-blob in $dir"
  echo "$want" >"$stamp"
  log "Azurite ready: $dir"
}

main() {
  [[ -f "$REQUIREMENTS" && -f "$POM" ]] || die "run from a medallion checkout ($ROOT)"
  if [[ "${MEDALLION_SKIP_APT:-0}" != 1 ]]; then
    command -v dpkg-query >/dev/null || die "not a Debian system; set MEDALLION_SKIP_APT=1"
    ensure_apt_packages
  fi
  mkdir -p "$DEPS"
  ensure_venv
  ensure_kafka_libs
  ensure_azurite
}

main "$@"

#!/usr/bin/env bash
# Runs a command with the local broker up: starts it if it is not running, and stops it
# afterwards only if this script started it. The command's exit code is returned.
#   scripts/with_broker.sh .venv/bin/pytest -q tests/integration
set -uo pipefail
KAFKA=(bash "$(dirname "${BASH_SOURCE[0]}")/kafka.sh")
started=0
if ! "${KAFKA[@]}" status >/dev/null; then
  "${KAFKA[@]}" start || exit 1
  started=1
  trap '"${KAFKA[@]}" stop; exit 130' INT TERM
fi
"$@"
rc=$?
if [[ $started == 1 ]]; then "${KAFKA[@]}" stop; fi
exit $rc

# Shared pieces of scripts/bootstrap.sh and scripts/spark_env.sh (sourced, not run).
# The sourcing script defines log() and die() and sets STAMPS and DEPS.

# Prints the hash of the given words plus the contents of the given files, to key a stamp.
inputs_hash() {
  local words="$1"; shift
  { echo "$words"; cat "$@"; } | sha256sum | cut -d' ' -f1
}

# The major version of the `java` on PATH (e.g. 17).
java_major() {
  java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1
}

# ensure_venv_with DIR STAMP WANT IMPORTS PIP_ARGS...: a venv at DIR with PIP_ARGS installed
# by pip, skipped while the stamp file DIR/STAMP holds WANT. The stamp lives inside the venv, so
# a deleted or recreated venv is never taken as current. IMPORTS ("a, b") must import after.
ensure_venv_with() {
  local dir="$1" stamp="$1/$2" want="$3" imports="$4"
  shift 4
  if [[ "${MEDALLION_FORCE:-0}" != 1 && -x "$dir/bin/python" && -f "$stamp" \
        && "$(cat "$stamp")" == "$want" ]] && "$dir/bin/python" -c '' 2>/dev/null; then
    return 0
  fi
  if [[ ! -x "$dir/bin/python" ]] || ! "$dir/bin/python" -c '' 2>/dev/null; then
    log "creating venv $dir with $("$PYTHON" --version 2>&1)"
    rm -rf "$dir"
    "$PYTHON" -m venv "$dir"
  fi
  log "installing $* into $dir"
  "$dir/bin/python" -m pip install -q --disable-pip-version-check "$@" || die "pip install failed"
  "$dir/bin/python" -c "import $imports" || die "the venv $dir cannot import: $imports"
  echo "$want" >"$stamp"
  log "venv ready: $dir"
}

# collect_jars NAME POM DEST MUST_MATCH: the jars of a pom's dependencies into DEST, through
# `mvn dependency:copy-dependencies`, skipped while the pom's hash matches the stamp NAME and
# DEST holds a file matching MUST_MATCH. The jars go to a fresh folder that is then swapped
# in, so jars of an older pom never linger on a classpath.
collect_jars() {
  local name="$1" pom="$2" dest="$3" must_match="$4"
  local want stamp="$STAMPS/$name.sha256"
  want="$(inputs_hash "$name" "$pom")"
  if [[ "${MEDALLION_FORCE:-0}" != 1 && -f "$stamp" && "$(cat "$stamp")" == "$want" ]] \
      && compgen -G "$dest/$must_match" >/dev/null; then
    return 0
  fi
  log "collecting $name jars (${pom#"$ROOT/"}) into $dest"
  mkdir -p "$STAMPS"
  local fresh="$dest.new" mvn_log="$DEPS/mvn-$name.log"
  rm -rf "$fresh"
  if ! mvn -q -B -Dstyle.color=never -f "$pom" dependency:copy-dependencies \
        -DoutputDirectory="$fresh" >"$mvn_log" 2>&1; then
    tail -n 30 "$mvn_log" >&2
    die "mvn dependency:copy-dependencies failed (full log: $mvn_log)"
  fi
  compgen -G "$fresh/$must_match" >/dev/null || die "no $must_match in $fresh"
  rm -rf "$dest.old"
  if [[ -d "$dest" ]]; then mv "$dest" "$dest.old"; fi
  mv "$fresh" "$dest"
  rm -rf "$dest.old"
  echo "$want" >"$stamp"
  log "$name jars ready: $(find "$dest" -name '*.jar' | wc -l) jars"
}

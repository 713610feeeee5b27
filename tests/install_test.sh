#!/usr/bin/env bash
# Runs scripts/install.sh the way the composite action does, against fake release archives served
# from 127.0.0.1, and a stub cargo for the build-from-source path. Needs bash, python3 (or python),
# curl, tar and unzip; takes a few seconds. Runs on Linux, macOS and Git Bash on Windows, and under
# a TMPDIR with a backslash in it (as Git Bash's RUNNER_TEMP, D:\a\_temp, has). Ends with
# "N passed, M failed".
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/install-test.XXXXXX")
SERVER_PID=
passed=0
failed=0

# Windows runners may have only `python`, and a `python3` that merely points to the Store.
PYTHON=python3
"$PYTHON" -c '' 2>/dev/null || PYTHON=python

# The runner reads GITHUB_PATH in the host's syntax: install.sh writes C:\... paths in Git Bash.
host_path() {
  if command -v cygpath >/dev/null 2>&1; then cygpath -w "$1"; else printf '%s\n' "$1"; fi
}
posix_path() {
  if command -v cygpath >/dev/null 2>&1; then cygpath -u "$1"; else printf '%s\n' "$1"; fi
}

cleanup() {
  [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
# Turn signals into an exit so the EXIT trap stops the server then too.
trap 'exit 130' INT
trap 'exit 143' TERM

pass() {
  passed=$((passed + 1))
  echo "ok - $1"
}

fail() {
  failed=$((failed + 1))
  echo "FAIL - $1"
  sed 's/^/    | /' "$WORK/out" 2>/dev/null || true
}

# Usage: check NAME COMMAND...: passes when the command succeeds.
check() {
  local name=$1
  shift
  if "$@"; then pass "$name"; else fail "$name"; fi
}

# Each archive holds a script named like the binary that prints the tag and target it was
# packaged for, so a test can tell which archive was installed.
make_archive() {
  local tag=$1 target=$2 dir=$WORK/pack/$1-$2 exe=marketplace-publish
  [[ $target == *windows* ]] && exe=marketplace-publish.exe
  mkdir -p "$dir" "$WORK/releases/$tag"
  printf '#!/bin/sh\necho "marketplace-publish %s %s"\n' "${tag#v}" "$target" >"$dir/$exe"
  chmod +x "$dir/$exe"
  if [[ $target == *windows* ]]; then
    (cd "$dir" && "$PYTHON" -m zipfile -c "$WORK/releases/$tag/marketplace-publish-$target.zip" "$exe")
  else
    tar -czf "$WORK/releases/$tag/marketplace-publish-$target.tar.gz" -C "$dir" "$exe"
  fi
}

# The checksum file as the release workflow writes it, for every archive of one tag.
write_checksums() {
  local tag=$1
  mkdir -p "$ACTION/checksums"
  local sum=(sha256sum)
  command -v sha256sum >/dev/null || sum=(shasum -a 256) # macOS
  (cd "$WORK/releases/$tag" && "${sum[@]}" marketplace-publish-*) >"$ACTION/checksums/$tag.sha256"
}

start_server() {
  # Made here, not by the background job's redirection, which may come after the first read below
  # (a failed read would end the script under set -e).
  : >"$WORK/server.out"
  "$PYTHON" -u -m http.server 0 --bind 127.0.0.1 --directory "$WORK/releases" \
    >"$WORK/server.out" 2>"$WORK/server.log" &
  SERVER_PID=$!
  local port='' _
  for _ in $(seq 1 50); do
    port=$(sed -n 's/.* port \([0-9][0-9]*\) .*/\1/p' "$WORK/server.out")
    [[ -n $port ]] && break
    sleep 0.1
  done
  [[ -n $port ]] || { echo "http.server did not start" >&2; exit 1; }
  BASE=http://127.0.0.1:$port
}

# A cargo that records its arguments and leaves a binary where `cargo build --release` would.
make_cargo_stub() {
  mkdir -p "$WORK/bin"
  cat >"$WORK/bin/cargo" <<'EOF'
#!/usr/bin/env bash
printf '%s\n' "$*" >>"$CARGO_LOG"
while (($#)); do
  [[ $1 == --manifest-path ]] && manifest=$2
  shift
done
out=$(dirname "$manifest")/target/release
mkdir -p "$out"
printf '#!/bin/sh\necho "marketplace-publish built-from-source"\n' >"$out/marketplace-publish"
chmod +x "$out/marketplace-publish"
EOF
  chmod +x "$WORK/bin/cargo"
}

# Runs install.sh in a clean environment like a runner step, with the host's PATH (the stub cargo
# first) and, on Windows, the variables its programs cannot do without. RUNNER_TEMP is fresh, named
# $TEMP_NAME.XXXXXX. Usage: run_install OS ARCH REF [VAR=value...]
TEMP_NAME=runner
run_install() {
  local os=$1 arch=$2 ref=$3 var windows=()
  shift 3
  RUN_TEMP=$(mktemp -d "$WORK/$TEMP_NAME.XXXXXX")
  : >"$RUN_TEMP/github_path"
  for var in SYSTEMROOT WINDIR COMSPEC PATHEXT TEMP TMP; do
    [[ -n ${!var:-} ]] && windows+=("$var=${!var}")
  done
  set +e
  env -i PATH="$WORK/bin:$PATH" HOME="$WORK" ${windows[@]+"${windows[@]}"} \
    RUNNER_OS="$os" RUNNER_ARCH="$arch" RUNNER_TEMP="$RUN_TEMP" \
    GITHUB_PATH="$RUN_TEMP/github_path" GITHUB_ACTION_PATH="$ACTION" \
    GITHUB_ACTION_REF="$ref" GITHUB_ACTION_REPOSITORY=example/marketplace-publish \
    MARKETPLACE_RELEASE_BASE="$BASE" CARGO_LOG="$WORK/cargo.log" "$@" \
    bash "$ACTION/scripts/install.sh" >"$WORK/out" 2>&1
  STATUS=$?
  set -e
}

# The output of the binary found through the directories install.sh appended to $GITHUB_PATH.
installed_says() {
  local dirs='' dir
  while IFS= read -r dir; do
    dirs+=${dirs:+:}$(posix_path "$dir")
  done <"$RUN_TEMP/github_path"
  [[ -n $dirs ]] && PATH="$dirs" command -v "${1:-marketplace-publish}" >/dev/null &&
    PATH="$dirs" "${1:-marketplace-publish}"
}

# Whether install.sh put DIR on the PATH (as the runner will read it).
path_added() {
  grep -qxF "$(host_path "$1")" "$RUN_TEMP/github_path"
}

expect_installed() {
  local name=$1 want=$2 got
  got=$(installed_says "${3:-}" 2>/dev/null || true)
  if [[ $STATUS -eq 0 && $got == "$want" ]]; then
    pass "$name"
  else
    echo "    exit $STATUS, binary said '$got', wanted '$want'" >>"$WORK/out"
    fail "$name"
  fi
}

expect_refused() {
  local name=$1 pattern=$2
  if [[ $STATUS -ne 0 && ! -s $RUN_TEMP/github_path ]] && grep -q "^::error .*$pattern" "$WORK/out" &&
    [[ ! -e $RUN_TEMP/marketplace-publish/1.2.3 ]]; then
    pass "$name"
  else
    echo "    exit $STATUS, GITHUB_PATH: $(cat "$RUN_TEMP/github_path")" >>"$WORK/out"
    fail "$name"
  fi
}

# --- fixtures -------------------------------------------------------------------------------
ACTION=$WORK/action
mkdir -p "$ACTION/scripts"
cp "$REPO/scripts/install.sh" "$ACTION/scripts/"
cp "$REPO/Cargo.toml" "$ACTION/"
for target in x86_64-unknown-linux-musl aarch64-unknown-linux-musl x86_64-apple-darwin \
  aarch64-apple-darwin x86_64-pc-windows-msvc; do
  make_archive v1.2.3 "$target"
done
make_archive v1.10.0 x86_64-unknown-linux-musl
make_archive v2.0.0 x86_64-unknown-linux-musl
write_checksums v1.2.3
write_checksums v1.10.0
write_checksums v2.0.0
make_cargo_stub
start_server

# --- the archive for each runner ------------------------------------------------------------
run_install Linux X64 v1.2.3
expect_installed "Linux X64 installs the x86_64 musl archive" \
  "marketplace-publish 1.2.3 x86_64-unknown-linux-musl"
check "the binary is installed under RUNNER_TEMP/marketplace-publish/{version}/{target}" \
  path_added "$RUN_TEMP/marketplace-publish/1.2.3/x86_64-unknown-linux-musl"

run_install Linux ARM64 v1.2.3
expect_installed "Linux ARM64 installs the aarch64 musl archive" \
  "marketplace-publish 1.2.3 aarch64-unknown-linux-musl"

run_install macOS X64 v1.2.3
expect_installed "macOS X64 installs the x86_64 darwin archive" \
  "marketplace-publish 1.2.3 x86_64-apple-darwin"

run_install macOS ARM64 v1.2.3
expect_installed "macOS ARM64 installs the aarch64 darwin archive" \
  "marketplace-publish 1.2.3 aarch64-apple-darwin"

run_install Windows X64 v1.2.3
expect_installed "Windows X64 installs the msvc zip" \
  "marketplace-publish 1.2.3 x86_64-pc-windows-msvc" marketplace-publish.exe

run_install Linux X64 v1 RUNNER_TOOL_CACHE="$WORK/toolcache"
expect_installed "major tag v1 resolves to the highest v1.x.y checksum file (1.10.0 > 1.2.3)" \
  "marketplace-publish 1.10.0 x86_64-unknown-linux-musl"

# --- reuse of a verified install ------------------------------------------------------------
before=$(grep -c 'v1.10.0/marketplace-publish-x86_64' "$WORK/server.log" || true)
run_install Linux X64 v1.10.0 RUNNER_TOOL_CACHE="$WORK/toolcache"
after=$(grep -c 'v1.10.0/marketplace-publish-x86_64' "$WORK/server.log" || true)
expect_installed "a second install reuses the tool cache" \
  "marketplace-publish 1.10.0 x86_64-unknown-linux-musl"
check "the reused install downloads nothing" test "$before" = "$after"

# A cached binary whose marker does not match the checksum file is not trusted.
echo 0000 >"$WORK/toolcache/marketplace-publish/1.10.0/x86_64-unknown-linux-musl/.archive-sha256" || true
run_install Linux X64 v1.10.0 RUNNER_TOOL_CACHE="$WORK/toolcache"
after2=$(grep -c 'v1.10.0/marketplace-publish-x86_64' "$WORK/server.log" || true)
check "an unverified cache entry is downloaded again" test "$STATUS" -eq 0 -a "$after2" -gt "$after"

# --- Windows paths ---------------------------------------------------------------------------
# Git Bash's RUNNER_TEMP is D:\a\_temp. GNU sha256sum escapes a file name with a backslash and
# starts its line with `\`, and GNU tar reads `\a` in a name as BEL: install.sh must do neither.
# (In Git Bash the backslash separates: the name is then the directory _temp.XXXXXX in D/a.)
mkdir -p "$WORK/D\a"
TEMP_NAME='D\a\_temp'
run_install Windows X64 v1.2.3
expect_installed "a RUNNER_TEMP with a backslash (D:\\a\\_temp) installs the msvc zip" \
  "marketplace-publish 1.2.3 x86_64-pc-windows-msvc" marketplace-publish.exe
run_install Linux X64 v1.2.3
expect_installed "a RUNNER_TEMP with a backslash installs the musl archive" \
  "marketplace-publish 1.2.3 x86_64-unknown-linux-musl"
TEMP_NAME=runner

mkdir -p "$WORK/hosted\toolcache"
run_install Windows X64 v1.2.3 RUNNER_TOOL_CACHE="$WORK/hosted\toolcache"
run_install Windows X64 v1.2.3 RUNNER_TOOL_CACHE="$WORK/hosted\toolcache"
expect_installed "a tool cache with a backslash (C:\\hostedtoolcache\\windows) is reused" \
  "marketplace-publish 1.2.3 x86_64-pc-windows-msvc" marketplace-publish.exe
check "the reuse is reported" grep -q "^reusing marketplace-publish v1.2.3" "$WORK/out"

# --- refusals -------------------------------------------------------------------------------
cp "$ACTION/checksums/v1.2.3.sha256" "$WORK/good.sha256"
sed 's/^[0-9a-f]/0/' "$WORK/good.sha256" >"$ACTION/checksums/v1.2.3.sha256"
run_install Linux X64 v1.2.3
expect_refused "a checksum mismatch is refused" "SHA-256 mismatch"

grep -v 'x86_64-unknown-linux-musl' "$WORK/good.sha256" >"$ACTION/checksums/v1.2.3.sha256"
run_install Linux X64 v1.2.3
expect_refused "a missing checksum entry is refused" "has no SHA-256 for marketplace-publish-x86_64-unknown-linux-musl.tar.gz"
cp "$WORK/good.sha256" "$ACTION/checksums/v1.2.3.sha256"

run_install Linux X64 v1.2.3 MARKETPLACE_RELEASE_BASE="$BASE/nowhere"
expect_refused "a missing archive is refused" "could not download"

# --- build from source ----------------------------------------------------------------------
for ref in main 0123456789abcdef0123456789abcdef01234567 "" v9.9.9; do
  : >"$WORK/cargo.log"
  run_install Linux X64 "$ref"
  label="ref '${ref:-(local ./)}' builds with cargo"
  if [[ $(cat "$WORK/cargo.log") == "build --release --locked --manifest-path $ACTION/Cargo.toml" ]] &&
    path_added "$ACTION/target/release"; then
    expect_installed "$label" "marketplace-publish built-from-source"
  else
    echo "    cargo was called with: $(cat "$WORK/cargo.log")" >>"$WORK/out"
    fail "$label"
  fi
done

echo "$passed passed, $failed failed"
((failed == 0))

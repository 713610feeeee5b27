#!/usr/bin/env bash
# Puts marketplace-publish on the runner's PATH for the composite action (action.yml).
#
# A release ref (vX.Y.Z, or a major tag vX) installs the prebuilt archive of that release, verified
# against checksums/vX.Y.Z.sha256 from the action's own checkout: the checksum comes from the git
# ref the workflow pinned, not from the server that serves the archive, so a replaced release asset
# is refused. Any other ref (a branch, a SHA, `uses: ./`) builds the action's source with cargo.
#
# Inputs (environment): RUNNER_OS, RUNNER_ARCH, RUNNER_TEMP, RUNNER_TOOL_CACHE, GITHUB_PATH,
# GITHUB_ACTION_PATH, GITHUB_ACTION_REF, GITHUB_ACTION_REPOSITORY, and MARKETPLACE_RELEASE_BASE
# to take archives from elsewhere (tests serve them from http://127.0.0.1).
set -euo pipefail

readonly BIN=marketplace-publish

# Workflow-command data must have %, CR and LF escaped or the runner would cut or reinterpret it.
escape_data() {
  local s=${1//'%'/'%25'}
  s=${s//$'\r'/'%0D'}
  printf '%s' "${s//$'\n'/'%0A'}"
}

die() {
  printf '::error title=marketplace-publish install::%s\n' "$(escape_data "$*")"
  exit 1
}

note() {
  printf '%s\n' "$*" >&2
}

# Maps the runner to a release target; prints nothing where no prebuilt binary is published.
detect_target() {
  case "${RUNNER_OS:-}/${RUNNER_ARCH:-}" in
    Linux/X64) echo x86_64-unknown-linux-musl ;;
    Linux/ARM64) echo aarch64-unknown-linux-musl ;;
    macOS/X64) echo x86_64-apple-darwin ;;
    macOS/ARM64) echo aarch64-apple-darwin ;;
    Windows/X64) echo x86_64-pc-windows-msvc ;;
  esac
}

# Prints the release tag (vX.Y.Z) the ref stands for, or nothing when the ref is not a release
# that has a checksum file in this checkout. A major tag vX points at the latest vX.Y.Z release
# commit, whose checksums/ holds that release's file: the highest vX.*.* there is the release.
resolve_tag() {
  local ref=$1 dir=$GITHUB_ACTION_PATH/checksums
  if [[ $ref =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
    [[ -f $dir/$ref.sha256 ]] && echo "$ref"
  elif [[ $ref =~ ^v[0-9]+$ ]]; then
    local f name versions=()
    for f in "$dir/$ref".*.*.sha256; do
      name=${f##*/}
      name=${name%.sha256}
      [[ $name =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] && versions+=("${name#v}")
    done
    # Field-wise numeric sort: `sort -V` is not in every BSD sort.
    ((${#versions[@]})) && printf '%s\n' "${versions[@]}" |
      sort -t. -k1,1n -k2,2n -k3,3n | tail -n 1 | sed 's/^/v/'
  fi
  return 0
}

# Whichever SHA-256 tool the runner has: sha256sum (Linux, Git Bash), shasum (macOS), openssl.
# The file is read from standard input: given a name with a backslash (Git Bash's RUNNER_TEMP is
# D:\a\_temp), GNU sha256sum escapes it and starts its line with `\`, which would end up in the hash.
sha256_of() {
  local out
  if command -v sha256sum >/dev/null 2>&1; then
    out=$(sha256sum <"$1")
  elif command -v shasum >/dev/null 2>&1; then
    out=$(shasum -a 256 <"$1")
  elif command -v openssl >/dev/null 2>&1; then
    out=$(openssl dgst -sha256 -r <"$1")
  else
    die "no SHA-256 tool found (sha256sum, shasum or openssl)"
  fi
  printf '%s\n' "${out%% *}" | tr 'A-F' 'a-f'
}

# The expected hash of one archive from a `<sha256>  <name>` file (sha256sum's format, also with
# its `*` binary marker); nothing when the archive has no line.
expected_sha256() {
  awk -v name="$2" '{ sub(/\r$/, "") } $2 == name || $2 == "*" name { print tolower($1); exit }' "$1"
}

# HTTPS only, also after redirects; plain HTTP only for a test server on the loopback address.
download() {
  local url=$1 out=$2 proto=(--proto '=https' --proto-redir '=https' --tlsv1.2)
  case $url in
    http://127.0.0.1:* | http://127.0.0.1/*) proto=(--proto '=http' --proto-redir '=http') ;;
  esac
  curl --fail --location --silent --show-error "${proto[@]}" \
    --retry 4 --retry-delay 2 --retry-connrefused --connect-timeout 20 --max-time 300 \
    --output "$out" "$url"
}

unpack() {
  local archive=$1 dest=$2
  case $archive in
    *.zip)
      if command -v unzip >/dev/null 2>&1; then
        unzip -q -o "$archive" -d "$dest"
      else
        # Paths go through the environment: words after -Command become part of the command text,
        # never $args. PowerShell needs them in Windows syntax.
        if command -v cygpath >/dev/null 2>&1; then
          archive=$(cygpath -w "$archive")
          dest=$(cygpath -w "$dest")
        fi
        # shellcheck disable=SC2016 # $env:... is PowerShell's, not the shell's
        MP_ARCHIVE=$archive MP_DEST=$dest powershell -NoProfile -NonInteractive -Command \
          'Expand-Archive -Force -LiteralPath $env:MP_ARCHIVE -DestinationPath $env:MP_DEST'
      fi
      ;;
    # No path on tar's command line: GNU tar reads escapes in names (`-C 'D:\a\_temp'` holds a BEL).
    *) (cd "$dest" && tar -xzf -) <"$archive" ;;
  esac
}

# The runner reads $GITHUB_PATH with the host's path syntax: convert Git Bash paths on Windows.
add_to_path() {
  local dir=$1
  if command -v cygpath >/dev/null 2>&1; then
    dir=$(cygpath -w "$dir")
  fi
  printf '%s\n' "$dir" >>"$GITHUB_PATH"
  note "added $dir to PATH"
}

install_release() {
  local tag=$1 target=$2 exe=$BIN archive base sums expected actual dest tmp
  [[ $target == *windows* ]] && exe=$BIN.exe
  if [[ $target == *windows* ]]; then
    archive=$BIN-$target.zip
  else
    archive=$BIN-$target.tar.gz
  fi
  sums=$GITHUB_ACTION_PATH/checksums/$tag.sha256
  expected=$(expected_sha256 "$sums" "$archive")
  [[ $expected =~ ^[0-9a-f]{64}$ ]] ||
    die "checksums/$tag.sha256 has no SHA-256 for $archive; refusing to install an unverified binary"

  local root=${RUNNER_TOOL_CACHE:-${RUNNER_TEMP:?RUNNER_TEMP is not set}}
  dest=$root/$BIN/${tag#v}/$target
  if [[ -x $dest/$exe && -f $dest/.archive-sha256 && $(<"$dest/.archive-sha256") == "$expected" ]]; then
    note "reusing $BIN $tag ($target) from $dest"
    add_to_path "$dest"
    return
  fi

  if [[ -n ${MARKETPLACE_RELEASE_BASE:-} ]]; then
    base=${MARKETPLACE_RELEASE_BASE%/}
  else
    [[ -n ${GITHUB_ACTION_REPOSITORY:-} ]] || die "GITHUB_ACTION_REPOSITORY is not set; cannot locate release $tag"
    base=https://github.com/$GITHUB_ACTION_REPOSITORY/releases/download
  fi

  tmp=$(mktemp -d "${RUNNER_TEMP:-${TMPDIR:-/tmp}}/$BIN-install.XXXXXX")
  # shellcheck disable=SC2064 # expand now: $tmp is local and gone once the function returns
  trap "rm -rf '$tmp'" EXIT
  note "downloading $base/$tag/$archive"
  download "$base/$tag/$archive" "$tmp/$archive" || die "could not download $base/$tag/$archive"
  actual=$(sha256_of "$tmp/$archive")
  [[ $actual == "$expected" ]] ||
    die "SHA-256 mismatch for $archive: got $actual, checksums/$tag.sha256 says $expected; refusing to install"

  mkdir -p "$tmp/unpacked"
  unpack "$tmp/$archive" "$tmp/unpacked" || die "could not unpack $archive"
  [[ -f $tmp/unpacked/$exe ]] || die "$archive does not contain $exe"
  chmod +x "$tmp/unpacked/$exe"
  printf '%s\n' "$expected" >"$tmp/unpacked/.archive-sha256"
  # Move a complete directory into place so a half-written one is never reused.
  rm -rf "$dest"
  mkdir -p "${dest%/*}"
  mv "$tmp/unpacked" "$dest"
  note "installed $BIN $tag ($target) in $dest"
  add_to_path "$dest"
}

build_from_source() {
  command -v cargo >/dev/null 2>&1 ||
    die "no prebuilt $BIN for this ref and no cargo to build it; use a release tag such as v1 or install Rust first"
  note "building $BIN from source with cargo"
  cargo build --release --locked --manifest-path "$GITHUB_ACTION_PATH/Cargo.toml"
  add_to_path "${CARGO_TARGET_DIR:-$GITHUB_ACTION_PATH/target}/release"
}

main() {
  : "${GITHUB_PATH:?GITHUB_PATH is not set; run this from a GitHub Actions step}"
  : "${GITHUB_ACTION_PATH:?GITHUB_ACTION_PATH is not set; run this from a GitHub Actions step}"
  local ref=${GITHUB_ACTION_REF:-} target tag
  target=$(detect_target)
  tag=$(resolve_tag "$ref")
  if [[ -z $tag ]]; then
    note "ref '${ref:-(local)}' is not a release with a checksum file"
    build_from_source
  elif [[ -z $target ]]; then
    note "no prebuilt $BIN for ${RUNNER_OS:-?}/${RUNNER_ARCH:-?}"
    build_from_source
  else
    install_release "$tag" "$target"
  fi
}

main "$@"

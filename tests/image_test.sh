#!/usr/bin/env bash
# Checks the container image without a Docker engine and without pulling anything: builds the static
# musl binary once, lays out the root filesystem the Dockerfile's COPY lines make (binary, CA bundle),
# and runs the binary in it with chroot as the image's user 65532 against the simulated portal. When
# buildah is at hand, it also builds the real image from the Dockerfile (vfs storage, chroot
# isolation, so no daemon) and runs that.
#
# Needs root (or passwordless sudo) for chroot, and installs file and buildah with apt-get when
# missing. Skips, saying why, where the musl target cannot be installed or root cannot be had; fails
# on anything the image would get wrong.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=x86_64-unknown-linux-musl
ARCH=amd64 # the Docker name of TARGET's architecture (TARGETARCH)
USER_ID=65532
# Where cargo puts what it builds: CARGO_TARGET_DIR or a configured target-dir, else target/.
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
[[ -n $TARGET_DIR ]] || { echo "image test FAILED: cargo metadata names no target directory" >&2; exit 1; }
BIN=$TARGET_DIR/$TARGET/release/marketplace-publish
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt

skip() {
  echo "image test SKIPPED: $*"
  exit 0
}
fail() {
  echo "image test FAILED: $*" >&2
  exit 1
}
as_root() {
  if ((EUID == 0)); then "$@"; else sudo -n "$@"; fi
}

# The layout below mirrors these lines; if the Dockerfile changes them, this script must follow.
# shellcheck disable=SC2016 # ${TARGETARCH} is the Dockerfile's text, not this script's variable
for line in \
  'COPY dist/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt' \
  'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
  'COPY --chmod=0555 dist/linux-${TARGETARCH}/marketplace-publish /marketplace-publish' \
  "USER $USER_ID:$USER_ID" \
  'ENTRYPOINT ["/marketplace-publish"]'; do
  grep -qxF "$line" Dockerfile || fail "the Dockerfile no longer has: $line"
done

# file, buildah and musl-gcc (which ring's C code is compiled with for the musl target) from
# Debian/Ubuntu's own packages, where apt is at hand; without file or buildah the checks that need
# them are left out, saying so.
install_tools() {
  local missing=() tool
  for tool in file buildah musl-gcc; do
    command -v "$tool" >/dev/null && continue
    case $tool in
      musl-gcc) missing+=(musl-tools) ;;
      *) missing+=("$tool") ;;
    esac
  done
  if ((${#missing[@]} == 0)) || ! command -v apt-get >/dev/null; then
    return 0
  fi
  echo "== installing ${missing[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get install -y -qq "${missing[@]}" >/dev/null ||
    { as_root apt-get update -qq && as_root apt-get install -y -qq "${missing[@]}" >/dev/null; } ||
    echo "could not install ${missing[*]}"
}

as_root true 2>/dev/null || skip "chroot needs root or passwordless sudo"
install_tools
rustup target add "$TARGET" >/dev/null 2>&1 ||
  skip "the Rust target $TARGET cannot be installed here (rustup target add failed)"
[[ -r $CA_BUNDLE ]] || fail "no CA bundle at $CA_BUNDLE to copy into the image"

echo "== build (release, $TARGET)"
cargo build --release --locked --target "$TARGET"

echo "== the binary is static"
ldd_says=$(ldd "$BIN" 2>&1 || true)
[[ $ldd_says == *"not a dynamic executable"* || $ldd_says == *"statically linked"* ]] ||
  fail "ldd finds dynamic dependencies: $ldd_says"
if command -v file >/dev/null; then
  file_says=$(file -b "$BIN")
  [[ $file_says == *"static"* && $file_says != *"dynamically linked"* ]] ||
    fail "file says: $file_says"
  echo "file: $file_says"
fi
echo "ldd: $ldd_says"
echo "size: $(stat -c %s "$BIN") bytes ($BIN)"

WORK=$(mktemp -d)
SIM_PID=
cleanup() {
  if [[ -n $SIM_PID ]]; then kill "$SIM_PID" 2>/dev/null || true; fi
  as_root rm -rf "$WORK"
}
trap cleanup EXIT

# The simulator is the same binary; port 0 lets the kernel pick, and the first stdout line names it.
echo "== simulated portal"
"$BIN" simulate --listen 127.0.0.1:0 --scenario happy >"$WORK/sim.out" 2>"$WORK/sim.log" &
SIM_PID=$!
for _ in $(seq 1 50); do
  [[ -s $WORK/sim.out ]] && break
  sleep 0.1
done
BASE=$(head -n 1 "$WORK/sim.out")
[[ $BASE == http://127.0.0.1:* ]] || fail "the simulator did not start: $(cat "$WORK/sim.log")"
echo "at $BASE"

# What `docker run -e ... -v OUT:/out` would hand the program: only these variables, and a writable
# directory mounted for the result file.
image_env=(
  SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
  MARKETPLACE_PUBLISHER_ID=contoso
  MARKETPLACE_OFFER_ID=contoso-offer
  MARKETPLACE_TOKEN=sim-token
  MARKETPLACE_API_BASE="$BASE"
  MARKETPLACE_POLL_INTERVAL=10ms
  MARKETPLACE_POLL_MAX_INTERVAL=40ms
  MARKETPLACE_RESULT_FILE=/out/result.json
)

# The program's own log (stderr) goes here, shown only when its run fails.
RUN_LOG=$WORK/run.log
run_failed() {
  cat "$RUN_LOG" >&2
  fail "$@"
}

# Succeeds when a run left exit 0, the succeeded JSON line on stdout, and a result file owned by the
# image's user in the writable directory $2 (which shows the program ran as that user).
check_run() {
  local name=$1 out_dir=$2 code=$3 stdout=$4 owner
  echo "$name: exit $code, stdout: $stdout"
  ((code == 0)) || run_failed "$name: exit $code"
  [[ $(wc -l <<<"$stdout") -eq 1 && $stdout == *'"outcome":"succeeded"'* ]] ||
    run_failed "$name: no succeeded JSON line on stdout"
  owner=$(stat -c %u:%g "$out_dir/result.json") || run_failed "$name: no result file"
  [[ $owner == "$USER_ID:$USER_ID" ]] || run_failed "$name: the result file is owned by $owner"
}

echo "== rootfs as the Dockerfile lays it out, run with chroot as $USER_ID:$USER_ID"
ROOTFS=$WORK/rootfs
mkdir -p "$ROOTFS/etc/ssl/certs" "$ROOTFS/out"
cp "$CA_BUNDLE" "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
install -m 0555 "$BIN" "$ROOTFS/marketplace-publish"
as_root chown -R 0:0 "$ROOTFS"
as_root chown "$USER_ID:$USER_ID" "$ROOTFS/out"
# env -i clears PATH too, so chroot is named by its path.
chroot=$(PATH=$PATH:/usr/sbin:/sbin command -v chroot) || skip "no chroot command"
code=0
stdout=$(as_root env -i "${image_env[@]}" \
  "$chroot" --userspec="$USER_ID:$USER_ID" --groups="$USER_ID" "$ROOTFS" /marketplace-publish 2>"$RUN_LOG") ||
  code=$?
check_run "chroot" "$ROOTFS/out" "$code" "$stdout"

if ! command -v buildah >/dev/null; then
  echo "== buildah is not installed: the real image was not built (the rootfs check above stands)"
  exit 0
fi

echo "== the real image, built by buildah from the Dockerfile (vfs storage, chroot isolation)"
# The release workflow's build context: dist/ with the CA bundle and one binary per architecture.
CONTEXT=$WORK/context
mkdir -p "$CONTEXT/dist/linux-$ARCH"
cp Dockerfile .dockerignore "$CONTEXT/"
cp "$CA_BUNDLE" "$CONTEXT/dist/ca-certificates.crt"
cp "$BIN" "$CONTEXT/dist/linux-$ARCH/marketplace-publish"
buildah=(as_root buildah --storage-driver vfs --root "$WORK/storage" --runroot "$WORK/run")
"${buildah[@]}" build --quiet --isolation chroot --platform "linux/$ARCH" \
  --tag localhost/marketplace-publish:image-test "$CONTEXT"
config=$("${buildah[@]}" inspect --type image --format '{{.OCIv1.Config.User}} {{.OCIv1.Config.Entrypoint}}' \
  localhost/marketplace-publish:image-test)
[[ $config == "$USER_ID:$USER_ID [/marketplace-publish]" ]] || fail "image config: $config"
echo "user and entrypoint: $config"

container=$("${buildah[@]}" from localhost/marketplace-publish:image-test)
mount=$("${buildah[@]}" mount "$container")
as_root mkdir "$mount/out"
as_root chown "$USER_ID:$USER_ID" "$mount/out"
run_env=()
for pair in "${image_env[@]}"; do run_env+=(--env "$pair"); done
code=0
stdout=$("${buildah[@]}" run --isolation chroot --network host "${run_env[@]}" "$container" \
  -- /marketplace-publish 2>"$RUN_LOG") || code=$?
check_run "buildah run" "$mount/out" "$code" "$stdout"
"${buildah[@]}" umount "$container" >/dev/null
"${buildah[@]}" rm "$container" >/dev/null
echo "image test passed"

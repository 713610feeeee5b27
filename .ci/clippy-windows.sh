#!/usr/bin/env bash
# Clippy (all targets, warnings denied) for x86_64-pc-windows-gnu, so that code or tests that break
# the Windows build are caught on Linux, before a windows-latest runner sees them. The release's
# Windows binary is the MSVC one; the GNU target shares its cfg(windows) code and can be checked from
# Linux with the MinGW cross compiler, which ring's build script needs for its C code.
#
# Installs the Rust target with rustup and the MinGW compiler with apt-get (as root or with
# passwordless sudo) when they are missing; fails, saying why, when it cannot.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=x86_64-pc-windows-gnu
CC_NAME=x86_64-w64-mingw32-gcc
CC_PACKAGE=gcc-mingw-w64-x86-64

as_root() {
  if ((EUID == 0)); then "$@"; else sudo -n "$@"; fi
}

if ! command -v "$CC_NAME" >/dev/null; then
  command -v apt-get >/dev/null || {
    echo "no $CC_NAME and no apt-get to install $CC_PACKAGE with" >&2
    exit 1
  }
  echo "== installing $CC_PACKAGE with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get install -y -qq "$CC_PACKAGE" >/dev/null ||
    { as_root apt-get update -qq && as_root apt-get install -y -qq "$CC_PACKAGE" >/dev/null; } || {
    echo "could not install $CC_PACKAGE" >&2
    exit 1
  }
fi
rustup target add "$TARGET" >/dev/null

echo "== cargo clippy --all-targets --target $TARGET -- -D warnings"
cargo clippy --locked --all-targets --target "$TARGET" -- -D warnings

#!/usr/bin/env bash
# Supply-chain check: cargo-deny (advisories, licences, sources) against deny.toml.
# No machine here reaches the online RustSec database, so when ../shared/advisory-db exists it is laid
# out where cargo-deny looks for its database and the check runs offline. The GitHub CI uses the
# online database instead (see .github/workflows/ci.yml).
set -euo pipefail

CARGO_DENY_VERSION=0.20.2
# cargo-deny keeps its database under db-path (deny.toml) in a folder named after a hash of the
# database URL; this is that folder for the default URL, as cargo-deny 0.20 names it.
DB_DIR_NAME=advisory-db-3157b0e258782691

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED_DB="$ROOT/../shared/advisory-db"
TOOLS=${CI_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/marketplace-publish-ci-tools}
DENY="$TOOLS/cargo-deny/bin/cargo-deny"

if [[ $("$DENY" --version 2>/dev/null) != "cargo-deny $CARGO_DENY_VERSION" ]]; then
  echo "installing cargo-deny $CARGO_DENY_VERSION (a few minutes, once)"
  cargo install --quiet --locked --root "$TOOLS/cargo-deny" cargo-deny --version "$CARGO_DENY_VERSION"
fi

if [[ ! -d $SHARED_DB/crates ]]; then
  echo "no offline advisory database at $SHARED_DB: running cargo-deny online"
  exec "$DENY" --manifest-path "$ROOT/Cargo.toml" check
fi

# --offline keeps cargo-deny off the advisory database's URL, and also from downloading crates: fetch
# every target's dependencies (macOS and Windows ones too) from crates.io first.
cargo fetch --locked --manifest-path "$ROOT/Cargo.toml"

# cargo-deny reads a git checkout; the shared copy is a plain folder, so commit a snapshot of it.
db="$HOME/.cargo/advisory-dbs/$DB_DIR_NAME"
rm -rf "$db"
mkdir -p "$(dirname "$db")"
cp -R "$SHARED_DB" "$db"
chmod -R u+w "$db"
git -C "$db" init --quiet
git -C "$db" add --all
git -C "$db" -c user.name=ci -c user.email=ci@localhost commit --quiet -m "offline snapshot"
exec "$DENY" --offline --manifest-path "$ROOT/Cargo.toml" check

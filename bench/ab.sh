#!/usr/bin/env bash
# The measurements behind the release profile and the runtime flavour in docs/PERFORMANCE.md: builds
# the committed tree as it is and with one change at a time (in copies under bench/out/ab, so the
# work tree is never edited), then measures each binary's size, its wall time for a publish that
# completes at once, and its peak RSS, against the simulated portal on 127.0.0.1.
# Usage: bash bench/ab.sh (about 3 minutes of build per variant on 2 cores; run bench/run.sh first
# for the tools it installs).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
AB=$REPO/bench/out/ab
SIM_PID=
cleanup() {
  [[ -z $SIM_PID ]] || kill "$SIM_PID" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# name and the sed edit that makes it, applied to Cargo.toml or src/cli.rs.
VARIANTS=(
  "baseline|Cargo.toml|"
  "opt-level=3|Cargo.toml|s/^opt-level = \"s\"/opt-level = 3/"
  "no LTO, 16 codegen units|Cargo.toml|s/^lto = true/lto = false/; s/^codegen-units = 1/codegen-units = 16/"
  "panic=unwind|Cargo.toml|s/^panic = \"abort\"/panic = \"unwind\"/"
  "tokio multi_thread|src/cli.rs|s/new_current_thread()/new_multi_thread()/"
)

rm -rf "$AB"
mkdir -p "$AB"
bins=()
for variant in "${VARIANTS[@]}"; do
  IFS='|' read -r name file edit <<<"$variant"
  dir=$AB/$((${#bins[@]}))
  mkdir -p "$dir"
  git -C "$REPO" archive HEAD | tar -x -C "$dir"
  if [[ -n $edit ]]; then
    before=$(sha256sum <"$dir/$file")
    sed -i "$edit" "$dir/$file"
    [[ $(sha256sum <"$dir/$file") != "$before" ]] || {
      echo "ab: the edit for '$name' changed nothing" >&2
      exit 1
    }
  fi
  # The multi-threaded runtime is behind a tokio feature the program does not enable.
  [[ $name != *multi_thread* ]] ||
    sed -i 's/features = \["rt", /features = ["rt", "rt-multi-thread", /' "$dir/Cargo.toml"
  echo "== building: $name" >&2
  # --locked is off only because the multi_thread feature can add lock entries; versions stay.
  CARGO_TARGET_DIR=$dir/target cargo build --release --quiet --manifest-path "$dir/Cargo.toml"
  bins+=("$dir/target/release/marketplace-publish")
done

baseline=${bins[0]}
"$baseline" simulate --listen 127.0.0.1:0 --plan <(echo '{"operation": {"step_ms": 0}}') \
  >"$AB/sim.url" 2>/dev/null &
SIM_PID=$!
for _ in $(seq 1 100); do
  [[ -s $AB/sim.url ]] && break
  sleep 0.05
done
export MARKETPLACE_API_BASE
MARKETPLACE_API_BASE=$(head -n 1 "$AB/sim.url")
[[ $MARKETPLACE_API_BASE == http://127.0.0.1:* ]] || {
  echo "ab: the simulator did not start" >&2
  exit 1
}
export MARKETPLACE_PUBLISHER_ID=contoso MARKETPLACE_OFFER_ID=contoso-offer MARKETPLACE_TOKEN=sim-token
export MARKETPLACE_CI=plain MARKETPLACE_POLL_INTERVAL=10ms MARKETPLACE_POLL_MAX_INTERVAL=10ms

{
  echo "| variant | stripped size | wall time (median of 40) | peak RSS (median of 5) |"
  echo "|---|---|---|---|"
  for i in "${!bins[@]}"; do
    IFS='|' read -r name _ <<<"${VARIANTS[$i]}"
    bin=${bins[$i]}
    hyperfine -N --style none --warmup 5 --runs 40 --export-json "$AB/t.json" "$bin" >/dev/null 2>&1
    wall=$(jq -r '.results[0].median * 1000' "$AB/t.json")
    rss=$(for _ in 1 2 3 4 5; do
      /usr/bin/time -f '%M' -o "$AB/rss" "$bin" >/dev/null 2>&1
      cat "$AB/rss"
    done | sort -n | sed -n 3p)
    awk -v n="$name" -v s="$(stat -c %s "$bin")" -v w="$wall" -v r="$rss" \
      'BEGIN { printf "| %s | %.2f MB | %.1f ms | %.1f MiB |\n", n, s / 1e6, w, r / 1024 }'
  done
} | tee "$AB/results.md"

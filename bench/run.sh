#!/usr/bin/env bash
# Measures marketplace-publish against what users would write instead (bench/publish.sh: curl + jq;
# bench/publish.py: Python requests), all against the simulated portal on 127.0.0.1, and its Product
# Ingestion path against its Cloud Partner Portal path, and prints Markdown tables with the targets as
# PASS/MISS. Usage: bash bench/run.sh
#
# BENCH_SKIP_FALLBACK=1 skips the slow measurement of the action's build-from-source fallback.
# Installs what it lacks: hyperfine, time, jq, curl, musl-tools via apt; requests into a venv under
# bench/out/ (gitignored), where the results are also kept (bench/out/results.md).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
OUT=$REPO/bench/out
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
MUSL=x86_64-unknown-linux-musl
mkdir -p "$OUT"
WORK=$(mktemp -d "$OUT/run.XXXXXX")
PIDS=()

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
# Turn signals into an exit so the EXIT trap stops the servers then too.
trap 'exit 130' INT
trap 'exit 143' TERM

log() { printf '== %s\n' "$*" >&2; }
die() {
  printf 'bench: %s\n' "$*" >&2
  exit 1
}

# --- tools ----------------------------------------------------------------------------------
install_tools() {
  local missing=()
  command -v hyperfine >/dev/null || missing+=(hyperfine)
  [[ -x /usr/bin/time ]] || missing+=(time)
  command -v jq >/dev/null || missing+=(jq)
  command -v curl >/dev/null || missing+=(curl)
  # ring compiles C for the static musl build; musl-gcc is its C compiler for that target.
  command -v musl-gcc >/dev/null || missing+=(musl-tools)
  if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  PY=$OUT/venv/bin/python
  if ! [[ -x $PY ]] || ! "$PY" -c 'import requests' 2>/dev/null; then
    log "installing requests into $OUT/venv"
    python3 -m venv "$OUT/venv"
    "$OUT/venv/bin/pip" install --quiet requests
  fi
}

# --- the simulated portal -------------------------------------------------------------------
# Prefixes each line with the time it arrived, so request times can be read back.
stamp() {
  local line
  while IFS= read -r line; do
    printf '%s %s\n' "$EPOCHREALTIME" "$line"
  done
}

# Usage: start_sim NAME PLAN_JSON. Serves the plan on a free loopback port; sets BASE to its URL,
# SIM_PID, and TRACE to a file of "EPOCH_SECONDS METHOD TARGET -> STATUS", one line per request.
start_sim() {
  local name=$1 _
  printf '%s\n' "$2" >"$WORK/$name.plan.json"
  TRACE=$WORK/$name.trace
  # The server's redirections happen in the child, maybe after the first read below: make the file
  # first, as set -e ends the run on a read of a file not there yet.
  : >"$WORK/$name.url"
  (exec "$BIN" simulate --listen 127.0.0.1:0 --plan "$WORK/$name.plan.json" \
    >"$WORK/$name.url" 2> >(stamp >"$TRACE")) &
  SIM_PID=$!
  PIDS+=("$SIM_PID")
  BASE=
  for _ in $(seq 1 100); do
    BASE=$(head -n 1 "$WORK/$name.url")
    [[ -n $BASE ]] && break
    sleep 0.05
  done
  [[ $BASE == http://127.0.0.1:* ]] || die "the simulator did not start: $BASE"
}

stop_sim() {
  kill "$SIM_PID" 2>/dev/null || true
  wait "$SIM_PID" 2>/dev/null || true
}

# Status reads (GETs of an operation or of a Product Ingestion job) in the trace so far.
status_reads() {
  grep -cE ' GET /(api/publishers/[^ ]*/operations/|rp/product-ingestion/configure/[^ ]*/status)' \
    "$TRACE" || true
}

# Requests of any kind in the trace so far.
requests() {
  wc -l <"$TRACE"
}

# The time the publish was received, from the trace.
publish_time() {
  awk '$2 == "POST" && $3 ~ /\/publish\?/ { print $1; exit }' "$TRACE"
}

calc() { awk "BEGIN { printf \"%s\", $1 }"; }

# The median of the numbers on stdin, one a line (the mean of the middle two for an even count).
median() {
  sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Usage: peak_rss COMMAND...: the median peak RSS in KiB of 5 runs of /usr/bin/time -v (for the
# scripts, the largest process of the run).
peak_rss() {
  local _
  for _ in 1 2 3 4 5; do
    /usr/bin/time -v -o "$WORK/time.txt" "$@" >/dev/null 2>&1
    awk -F': ' '/Maximum resident set size/ { print $2 }' "$WORK/time.txt"
  done | median
}

# Every input the programs read comes from here: nothing from the caller's environment leaks in
# (a stray MARKETPLACE_API_BASE would send the token elsewhere).
unset "${!MARKETPLACE_@}"
export MARKETPLACE_PUBLISHER_ID=contoso MARKETPLACE_OFFER_ID=contoso-offer MARKETPLACE_TOKEN=sim-token
export MARKETPLACE_CI=plain

# Usage: programs_env BASE POLL_INTERVAL POLL_MAX_INTERVAL TIMEOUT (empty intervals: the defaults).
programs_env() {
  export MARKETPLACE_API_BASE=$1 MARKETPLACE_TIMEOUT=$4
  unset MARKETPLACE_POLL_INTERVAL MARKETPLACE_POLL_MAX_INTERVAL
  [[ -z $2 ]] || export MARKETPLACE_POLL_INTERVAL=$2
  [[ -z $3 ]] || export MARKETPLACE_POLL_MAX_INTERVAL=$3
}

install_tools
log "building the release binary"
cargo build --release --locked --quiet --manifest-path "$REPO/Cargo.toml"
BIN=$TARGET_DIR/release/marketplace-publish
VERSION=$("$BIN" --version | awk '{ print $2 }')
OURS=("$BIN")
CURL=(bash "$REPO/bench/publish.sh")
PYTHON=("$PY" "$REPO/bench/publish.py")

# --- 1. one publish that completes at once: process cost ------------------------------------
# step_ms 0 walks each of the six steps in 1 ms: the operation is complete before the first status
# read, which comes 10 ms after the publish for all three programs.
log "publish that completes at once: run time and peak memory"
start_sim quick '{"operation": {"step_ms": 0}}'
(
  programs_env "$BASE" 10ms 10ms 1m
  for program in OURS CURL PYTHON; do
    declare -n cmd=$program
    before=$(status_reads)
    "${cmd[@]}" >/dev/null 2>"$WORK/$program.err" || die "$program failed: $(cat "$WORK/$program.err")"
    (($(status_reads) - before == 1)) || die "$program did not end after one status read"
    peak_rss "${cmd[@]}" >"$WORK/$program.rss"
  done
  hyperfine -N --style basic --warmup 5 --runs 40 --export-json "$WORK/time.json" \
    -n ours "${OURS[*]}" -n curl "${CURL[*]}" -n python "${PYTHON[*]}" >"$WORK/hyperfine.txt"
)
stop_sim
median_ms() { jq -r --arg n "$1" '.results[] | select(.command == $n) | .median * 1000' "$WORK/time.json"; }
T_OURS=$(median_ms ours)
T_CURL=$(median_ms curl)
T_PY=$(median_ms python)
RSS_OURS=$(<"$WORK/OURS.rss")
RSS_CURL=$(<"$WORK/CURL.rss")
RSS_PY=$(<"$WORK/PYTHON.rss")

# --- 2. the same publish through the Product Ingestion API ---------------------------------
# The simulator serves both APIs on one listener: reads_per_state 0 makes the configure job complete
# at its first status read, as step_ms 0 does the operation, and the poll settings are section 1's.
# The CPP path is measured again beside it, in alternating rounds, so that both see the same load.
# The calls differ: CPP checks for a running submission, publishes and reads the operation (3
# requests); Product Ingestion looks the product up by its external id, reads the submissions (the
# same check), configures, reads the job and, the job having succeeded, the submissions again to tell
# preview-ready (5). Given as product/<guid>, the offer needs no lookup (4).
PI_GUID=2d541119-7c3e-4f0a-9b1d-5e8f6a0c4b21
APIS=(cpp pi pi-guid)
# Usage: api_env NAME: the API, its base and the offer for one of APIS; after programs_env.
api_env() {
  export MARKETPLACE_API=product-ingestion MARKETPLACE_API_BASE=$BASE/rp/product-ingestion
  export MARKETPLACE_OFFER_ID=contoso-offer
  case $1 in
    cpp) unset MARKETPLACE_API && MARKETPLACE_API_BASE=$BASE ;;
    pi-guid) MARKETPLACE_OFFER_ID=product/$PI_GUID ;;
  esac
}
log "the same publish through the Product Ingestion API: run time and peak memory"
start_sim pi "{\"operation\": {\"step_ms\": 0}, \"ingestion\": {\"reads_per_state\": 0, \"product_guid\": \"$PI_GUID\"}}"
(
  programs_env "$BASE" 10ms 10ms 1m
  for api in "${APIS[@]}"; do
    api_env "$api"
    before=$(status_reads)
    sent=$(requests)
    "$BIN" >/dev/null 2>"$WORK/$api.err" || die "$api failed: $(cat "$WORK/$api.err")"
    # The simulator logs a request before it answers; give the logger a moment to write it.
    sleep 0.1
    (($(status_reads) - before == 1)) || die "$api did not end after one status read"
    echo $(($(requests) - sent)) >"$WORK/$api.requests"
  done
  # 4 rounds of 10 runs each, the three in turn, so that a change in the machine's load falls on all.
  for round in 1 2 3 4; do
    for api in "${APIS[@]}"; do
      api_env "$api"
      hyperfine -N --style none --warmup 2 --runs 10 --export-json "$WORK/$api.$round.json" "$BIN" \
        >/dev/null
    done
  done
  for api in "${APIS[@]}"; do
    api_env "$api"
    peak_rss "$BIN" >"$WORK/$api.rss"
  done
)
stop_sim
# Usage: pi_median API: the median wall time in ms over the rounds.
pi_median() { jq -r '.results[0].times[] * 1000' "$WORK/$1".[1-4].json | median; }
T_CPP=$(pi_median cpp)
T_PI=$(pi_median pi)
T_PI_GUID=$(pi_median pi-guid)
RSS_CPP=$(<"$WORK/cpp.rss")
RSS_PI=$(<"$WORK/pi.rss")
RSS_PI_GUID=$(<"$WORK/pi-guid.rss")
REQ_CPP=$(<"$WORK/cpp.requests")
REQ_PI=$(<"$WORK/pi.requests")
REQ_PI_GUID=$(<"$WORK/pi-guid.requests")

# --- 3. detection lag at the default poll settings, in real time ----------------------------
# Six steps of 3.5 s: done 21 s after the publish, between the first status read (15-18 s) and the
# second (33-45 s with the backoff's jitter).
log "detection lag at the default poll settings (about 45 s)"
start_sim lag '{"operation": {"step_ms": 3500}}'
(
  programs_env "$BASE" '' '' 5m
  "$BIN" >/dev/null 2>"$WORK/lag.err" || die "the lag run failed: $(cat "$WORK/lag.err")"
  printf '%s\n' "$EPOCHREALTIME" >"$WORK/lag.exit"
)
stop_sim
LAG=$(calc "$(<"$WORK/lag.exit") - ($(publish_time) + 21)")
LAST_READ=$(awk '$2 == "GET" && $3 ~ /\/operations\// { t = $1 } END { print t }' "$TRACE")
EXIT_AFTER_READ_MS=$(calc "($(<"$WORK/lag.exit") - $LAST_READ) * 1000")

# --- 4. status requests over a 2-hour operation, time scaled down 100x ----------------------
# Waiting two hours is not an option: every duration is divided by 100 (poll 150ms/600ms for
# 15s/60s, six steps of 12 s = 72 s for 2 h) and request times are multiplied back. The backoff and
# its jitter scale exactly; only the ~1 ms a request takes is magnified, which makes gaps and lag
# look longer, not shorter.
log "status requests over a 2-hour operation, scaled 100x (about 75 s)"
start_sim long '{"operation": {"step_ms": 12000}}'
(
  programs_env "$BASE" 150ms 600ms 3m
  "$BIN" >/dev/null 2>"$WORK/long.err" || die "the long run failed: $(cat "$WORK/long.err")"
  printf '%s\n' "$EPOCHREALTIME" >"$WORK/long.exit"
)
stop_sim
T0=$(publish_time)
awk -v t0="$T0" '$2 == "GET" && $3 ~ /\/operations\// { printf "%.3f\n", ($1 - t0) * 100 }' \
  "$TRACE" >"$WORK/long.reads"
# Requests in the first and second hour after the publish, the busiest hour anywhere (a sliding
# window starting at each request), and the longest gap between two reads.
read -r HOUR1 HOUR2 BUSIEST MAX_GAP < <(awk '
  { t[NR] = $1 }
  END {
    for (i = 1; i <= NR; i++) {
      if (t[i] < 3600) h1++; else if (t[i] < 7200) h2++
      n = 0
      for (j = i; j <= NR && t[j] < t[i] + 3600; j++) n++
      if (n > busiest) busiest = n
      if (i > 1 && t[i] - t[i - 1] > gap) gap = t[i] - t[i - 1]
    }
    printf "%d %d %d %.1f\n", h1, h2, busiest, gap
  }' "$WORK/long.reads")
READS_2H=$(wc -l <"$WORK/long.reads")
LAG_SCALED=$(calc "($(<"$WORK/long.exit") - ($T0 + 72)) * 100")

# --- 5. sizes -------------------------------------------------------------------------------
SIZE=$(stat -c %s "$BIN")
log "building the static musl binary for the container image"
PACKAGED=$BIN
IMAGE=n/a
if rustup target list --installed | grep -qx "$MUSL" || rustup target add "$MUSL" >/dev/null 2>&1; then
  cargo build --release --locked --quiet --target "$MUSL" --manifest-path "$REPO/Cargo.toml"
  PACKAGED=$TARGET_DIR/$MUSL/release/marketplace-publish
  # The image is FROM scratch: its content is the binary and the CA bundle (see Dockerfile).
  IMAGE=$(($(stat -c %s "$PACKAGED") + $(stat -c %s /etc/ssl/certs/ca-certificates.crt)))
fi

# --- 6. installing the action's binary ------------------------------------------------------
# As tests/install_test.sh does: the real binary packaged as a release archive, served from
# 127.0.0.1, installed by scripts/install.sh with a runner's environment.
log "installing the release archive from a local release server"
ACTION=$WORK/action
mkdir -p "$ACTION/scripts" "$ACTION/checksums" "$WORK/releases/v$VERSION" "$WORK/pack"
cp "$REPO/scripts/install.sh" "$ACTION/scripts/"
cp "$PACKAGED" "$WORK/pack/marketplace-publish"
ARCHIVE=marketplace-publish-$MUSL.tar.gz
tar -czf "$WORK/releases/v$VERSION/$ARCHIVE" -C "$WORK/pack" marketplace-publish
(cd "$WORK/releases/v$VERSION" && sha256sum "$ARCHIVE") >"$ACTION/checksums/v$VERSION.sha256"
: >"$WORK/http.out" # as in start_sim: there before the first read
python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$WORK/releases" \
  >"$WORK/http.out" 2>"$WORK/http.log" &
PIDS+=("$!")
PORT=
for _ in $(seq 1 100); do
  PORT=$(sed -n 's/.* port \([0-9][0-9]*\) .*/\1/p' "$WORK/http.out")
  [[ -n $PORT ]] && break
  sleep 0.05
done
[[ -n $PORT ]] || die "http.server did not start"
RUNNER=$WORK/runner
# Usage: runner_env REF ACTION_PATH: the environment of a runner step, nothing else.
runner_env() {
  printf '%s\n' env -i "PATH=$PATH" "HOME=$HOME" RUNNER_OS=Linux RUNNER_ARCH=X64 \
    "RUNNER_TEMP=$RUNNER" "GITHUB_PATH=$RUNNER/github_path" "GITHUB_ACTION_PATH=$2" \
    "GITHUB_ACTION_REF=$1" GITHUB_ACTION_REPOSITORY=example/marketplace-publish \
    "MARKETPLACE_RELEASE_BASE=http://127.0.0.1:$PORT"
}
mapfile -t INSTALL < <(runner_env "v$VERSION" "$ACTION")
# A fresh RUNNER_TEMP each time: a kept one would be reused from the tool cache, not installed.
hyperfine --style basic --warmup 1 --runs 10 --export-json "$WORK/install.json" \
  --prepare "rm -rf $RUNNER && mkdir -p $RUNNER && touch $RUNNER/github_path" \
  -n install "${INSTALL[*]} bash $ACTION/scripts/install.sh" >"$WORK/install.txt" 2>&1 ||
  die "install failed: $(cat "$WORK/install.txt")"
INSTALLED=$(head -n 1 "$RUNNER/github_path")
[[ $("$INSTALLED/marketplace-publish" --version) == "marketplace-publish $VERSION" ]] ||
  die "the installed binary does not run"
T_INSTALL=$(jq -r '.results[0].median * 1000' "$WORK/install.json")

T_FALLBACK=skipped
if [[ ${BENCH_SKIP_FALLBACK:-0} != 1 ]]; then
  log "building from source as the action does without a release (a few minutes)"
  rm -rf "$RUNNER" && mkdir -p "$RUNNER" && : >"$RUNNER/github_path"
  mapfile -t FALLBACK < <(runner_env main "$REPO")
  start=$EPOCHREALTIME
  "${FALLBACK[@]}" CARGO_TARGET_DIR="$WORK/fallback-target" bash "$REPO/scripts/install.sh" \
    >"$WORK/fallback.log" 2>&1 || die "the fallback build failed: $(tail -n 20 "$WORK/fallback.log")"
  T_FALLBACK=$(calc "($EPOCHREALTIME - $start) * 1000")
fi

# --- the table ------------------------------------------------------------------------------
verdict() { if awk "BEGIN { exit !($1) }"; then echo PASS; else echo MISS; fi; }
ms() { awk -v v="$1" 'BEGIN { printf "%.1f ms", v }'; }
mib() { awk -v v="$1" 'BEGIN { printf "%.1f MiB", v / 1024 }'; }
mb() { awk -v v="$1" 'BEGIN { printf "%.2f MB", v / 1e6 }'; }
s() { awk -v v="$1" 'BEGIN { printf "%.1f s", v }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
if [[ $T_FALLBACK == skipped ]]; then
  fallback="skipped (BENCH_SKIP_FALLBACK=1)"
else
  fallback="$(s "$(calc "$T_FALLBACK / 1000")") ($(awk -v a="$T_FALLBACK" -v b="$T_INSTALL" 'BEGIN { printf "%.0f", a / b }')x the release install)"
fi
if [[ $IMAGE == n/a ]]; then image=n/a; else image="$(mb "$IMAGE") (static musl binary $(mb "$(stat -c %s "$PACKAGED")") + CA bundle)"; fi

{
  echo "| measure | marketplace-publish | curl + jq script | Python requests script |"
  echo "|---|---|---|---|"
  echo "| wall time, publish done at first status read (median of 40, poll 10 ms) | $(ms "$T_OURS") | $(ms "$T_CURL") | $(ms "$T_PY") |"
  echo "| peak RSS (median of 5) | $(mib "$RSS_OURS") | $(mib "$RSS_CURL") | $(mib "$RSS_PY") |"
  echo
  echo "| measure | value |"
  echo "|---|---|"
  echo "| detection lag at 15s/60s, operation done 21 s in (real time) | $(s "$LAG") (exit $(ms "$EXIT_AFTER_READ_MS") after the final status read) |"
  echo "| detection lag at 15s/60s, 2 h operation (scaled 100x) | $(s "$LAG_SCALED") |"
  echo "| longest gap between status reads over 2 h (worst-case lag) | $(s "$MAX_GAP") |"
  echo "| status reads over a 2 h operation: total / first hour / second hour / busiest hour | $READS_2H / $HOUR1 / $HOUR2 / $BUSIEST |"
  echo "| release binary, stripped | $(mb "$SIZE") |"
  echo "| container image content | $image |"
  echo "| action install from a release archive (median of 10) | $(ms "$T_INSTALL") |"
  echo "| action install by \`cargo build --release --locked\`, clean target dir | $fallback |"
  echo
  echo "| target | measured | verdict |"
  echo "|---|---|---|"
  echo "| run time <= curl script | $(ratio "$T_OURS" "$T_CURL")x | $(verdict "$T_OURS <= $T_CURL") |"
  echo "| run time < 0.5x Python script | $(ratio "$T_OURS" "$T_PY")x | $(verdict "$T_OURS < 0.5 * $T_PY") |"
  echo "| peak memory < 10 MB | $(mb "$((RSS_OURS * 1024))") | $(verdict "$RSS_OURS * 1024 < 10e6") |"
  echo "| binary < 5 MB stripped | $(mb "$SIZE") | $(verdict "$SIZE < 5e6") |"
  echo "| detection lag <= poll cap (60 s) | $(s "$LAG") | $(verdict "$LAG <= 60") |"
  echo "| status requests per hour <= 60 (busiest hour) | $BUSIEST | $(verdict "$BUSIEST <= 60") |"
  echo
  echo "| Product Ingestion: the same publish, job done at its first status read (poll 10 ms) | CPP path | Product Ingestion, offer by external id | Product Ingestion, offer as product/<guid> |"
  echo "|---|---|---|---|"
  echo "| requests | $REQ_CPP | $REQ_PI | $REQ_PI_GUID |"
  echo "| wall time (median of 40: 4 rounds of 10, the three in turn) | $(ms "$T_CPP") | $(ms "$T_PI") | $(ms "$T_PI_GUID") |"
  echo "| peak RSS (median of 5) | $(mib "$RSS_CPP") | $(mib "$RSS_PI") | $(mib "$RSS_PI_GUID") |"
  echo
  echo "| Product Ingestion target | measured | verdict |"
  echo "|---|---|---|"
  echo "| wall time <= 1.1x the CPP path, offer by external id | $(ratio "$T_PI" "$T_CPP")x | $(verdict "$T_PI <= 1.1 * $T_CPP") |"
  echo "| wall time <= 1.1x the CPP path, offer as product/<guid> | $(ratio "$T_PI_GUID" "$T_CPP")x | $(verdict "$T_PI_GUID <= 1.1 * $T_CPP") |"
  echo "| peak memory <= 1.1x the CPP path, offer by external id | $(ratio "$RSS_PI" "$RSS_CPP")x | $(verdict "$RSS_PI <= 1.1 * $RSS_CPP") |"
  echo "| peak memory <= 1.1x the CPP path, offer as product/<guid> | $(ratio "$RSS_PI_GUID" "$RSS_CPP")x | $(verdict "$RSS_PI_GUID <= 1.1 * $RSS_CPP") |"
  echo "| binary < 3.5 MB stripped (both APIs in it) | $(mb "$SIZE") | $(verdict "$SIZE < 3.5e6") |"
} | tee "$OUT/results.md"

#!/usr/bin/env bash
# What a workflow author would write instead of marketplace-publish: curl + jq, the same calls
# (POST publish, read the operation's location, GET it until it ends) and the same exit codes for
# the outcomes it can tell apart. bench/run.sh times it against the binary; it is written to be
# correct and as cheap as a shell script can be (headers parsed with builtins, one jq per poll),
# so that the comparison is fair to it.
#
# Reads the binary's inputs: MARKETPLACE_PUBLISHER_ID, MARKETPLACE_OFFER_ID, MARKETPLACE_TOKEN,
# MARKETPLACE_API_BASE, MARKETPLACE_API_VERSION, MARKETPLACE_NOTIFICATION_EMAILS,
# MARKETPLACE_POLL_INTERVAL (a fixed wait, in the binary's syntax: 10ms, 15s, 1m) and
# MARKETPLACE_TIMEOUT.
set -euo pipefail

base=${MARKETPLACE_API_BASE:-https://cloudpartner.azure.com}
base=${base%/}
version=${MARKETPLACE_API_VERSION:-2017-10-31}
publisher=${MARKETPLACE_PUBLISHER_ID:?MARKETPLACE_PUBLISHER_ID is required}
offer=${MARKETPLACE_OFFER_ID:?MARKETPLACE_OFFER_ID is required}
token=${MARKETPLACE_TOKEN:?MARKETPLACE_TOKEN is required}

# Durations as the binary takes them, turned into what sleep(1) and a deadline need.
seconds() {
  local v=$1
  case $v in
    *ms) awk -v n="${v%ms}" 'BEGIN { printf "%.3f", n / 1000 }' ;;
    *s) echo "${v%s}" ;;
    *m) echo $((${v%m} * 60)) ;;
    *h) echo $((${v%h} * 3600)) ;;
    *) echo "$v" ;;
  esac
}
interval=$(seconds "${MARKETPLACE_POLL_INTERVAL:-15s}")
timeout=$(seconds "${MARKETPLACE_TIMEOUT:-60m}")
deadline=$((EPOCHSECONDS + ${timeout%.*}))

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Exit codes of the contract for an HTTP status that is not the expected one.
http_exit() {
  case $1 in
    400) return 3 ;;
    404) return 4 ;;
    422) return 5 ;;
    401 | 403) return 6 ;;
    *) return 8 ;;
  esac
}

if [[ -n ${MARKETPLACE_NOTIFICATION_EMAILS:-} ]]; then
  body=$(jq -cn --arg e "$MARKETPLACE_NOTIFICATION_EMAILS" '{metadata: {"notification-emails": $e}}')
else
  body='{"metadata":{}}'
fi

# --globoff: operation paths may hold characters curl would otherwise expand.
status=$(curl --silent --show-error --globoff --max-time 30 \
  -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  --data "$body" -D "$tmp/headers" -o "$tmp/body" -w '%{http_code}' \
  "$base/api/publishers/$publisher/offers/$offer/publish?api-version=$version")
if [[ $status != 202 ]]; then
  echo "publish answered HTTP $status: $(head -c 500 "$tmp/body")" >&2
  http_exit "$status"
fi

# Operation-Location (2018 page) wins over Location (today's); header names are case-insensitive.
location='' fallback=''
while IFS=: read -r name value; do
  value=${value#"${value%%[![:space:]]*}"}
  value=${value%$'\r'}
  case ${name,,} in
    operation-location) location=$value ;;
    location) fallback=$value ;;
  esac
done <"$tmp/headers"
location=${location:-$fallback}
case $location in
  '') echo "the 202 named no operation" >&2 && exit 8 ;;
  /*) location=$base$location ;;
  "$base"/*) ;;
  *) echo "refusing an operation on another origin: $location" >&2 && exit 8 ;;
esac
echo "publish accepted: $location" >&2

while ((EPOCHSECONDS < deadline)); do
  sleep "$interval"
  status=$(curl --silent --show-error --globoff --max-time 30 \
    -H "Authorization: Bearer $token" -o "$tmp/body" -w '%{http_code}' "$location")
  [[ $status == 200 ]] || { echo "status request answered HTTP $status" >&2 && http_exit "$status"; }
  # An array holding one object, or the object itself; status words without case, -, _ or spaces.
  state=$(jq -r '(if type == "array" then .[0] else . end) as $op
    | def norm: ascii_downcase | gsub("[-_ ]"; "");
    if any($op.steps[]?; (.status // "" | norm) == "waitingforpublisherreview")
    then "preview" else ($op.status // "" | norm) end' "$tmp/body")
  case $state in
    complete | completed | succeeded | preview)
      echo "outcome: $state" >&2
      exit 0
      ;;
    failed | canceled | cancelled)
      echo "outcome: $state" >&2
      exit 1
      ;;
  esac
done
echo "still running at the timeout" >&2
exit 7

"""What a workflow author would write instead of marketplace-publish in Python: `requests`, the same
calls (POST publish, read the operation's location, GET it until it ends) and the same exit codes for
the outcomes it can tell apart. bench/run.sh times it against the binary.

Reads the binary's inputs: MARKETPLACE_PUBLISHER_ID, MARKETPLACE_OFFER_ID, MARKETPLACE_TOKEN,
MARKETPLACE_API_BASE, MARKETPLACE_API_VERSION, MARKETPLACE_NOTIFICATION_EMAILS,
MARKETPLACE_POLL_INTERVAL (a fixed wait, in the binary's syntax: 10ms, 15s, 1m) and MARKETPLACE_TIMEOUT.
"""

import os
import re
import sys
import time
from urllib.parse import urljoin, urlsplit

import requests

HTTP_EXIT = {400: 3, 404: 4, 422: 5, 401: 6, 403: 6}
UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "": 1}


def seconds(text):
    number, unit = re.fullmatch(r"(\d+)(ms|s|m|h|)", text.strip()).groups()
    return int(number) * UNITS[unit]


def norm(word):
    """Status words compared without case, '-', '_' or spaces, as the contract says."""
    return re.sub(r"[-_ ]", "", str(word or "")).lower()


def main():
    env = os.environ
    base = env.get("MARKETPLACE_API_BASE", "https://cloudpartner.azure.com").rstrip("/")
    version = env.get("MARKETPLACE_API_VERSION", "2017-10-31")
    publisher, offer = env["MARKETPLACE_PUBLISHER_ID"], env["MARKETPLACE_OFFER_ID"]
    interval = seconds(env.get("MARKETPLACE_POLL_INTERVAL", "15s"))
    deadline = time.monotonic() + seconds(env.get("MARKETPLACE_TIMEOUT", "60m"))
    emails = env.get("MARKETPLACE_NOTIFICATION_EMAILS", "")
    metadata = {"notification-emails": emails} if emails else {}

    session = requests.Session()
    session.headers["Authorization"] = "Bearer " + env["MARKETPLACE_TOKEN"]
    answer = session.post(
        f"{base}/api/publishers/{publisher}/offers/{offer}/publish",
        params={"api-version": version},
        json={"metadata": metadata},
        timeout=30,
    )
    if answer.status_code != 202:
        print(f"publish answered HTTP {answer.status_code}: {answer.text[:500]}", file=sys.stderr)
        return HTTP_EXIT.get(answer.status_code, 8)
    # Operation-Location (2018 page) wins over Location (today's); a path is relative to the base.
    named = answer.headers.get("Operation-Location") or answer.headers.get("Location")
    if not named:
        print("the 202 named no operation", file=sys.stderr)
        return 8
    location = urljoin(base + "/", named)
    if urlsplit(location)[:2] != urlsplit(base)[:2]:
        print(f"refusing an operation on another origin: {location}", file=sys.stderr)
        return 8
    print(f"publish accepted: {location}", file=sys.stderr)

    while time.monotonic() < deadline:
        time.sleep(interval)
        answer = session.get(location, timeout=30)
        if answer.status_code != 200:
            print(f"status request answered HTTP {answer.status_code}", file=sys.stderr)
            return HTTP_EXIT.get(answer.status_code, 8)
        operation = answer.json()
        if isinstance(operation, list):
            operation = operation[0]
        steps = operation.get("steps") or []
        if any(norm(step.get("status")) == "waitingforpublisherreview" for step in steps):
            print("outcome: preview-ready", file=sys.stderr)
            return 0
        status = norm(operation.get("status"))
        if status in ("complete", "completed", "succeeded"):
            print("outcome: succeeded", file=sys.stderr)
            return 0
        if status in ("failed", "canceled", "cancelled"):
            print(f"outcome: {status}", file=sys.stderr)
            return 1
    print("still running at the timeout", file=sys.stderr)
    return 7


if __name__ == "__main__":
    sys.exit(main())

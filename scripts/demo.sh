#!/usr/bin/env bash
# Usage: bash scripts/demo.sh [STACK]        (STACK defaults to "shop")
#
# Runs the example stack (examples/shop/devarch.yml, renamed to STACK) on the embedded SQLite
# store (the default), from a fresh Debian 12 machine as root: starts the engines, creates .venv
# if absent, installs devarch, then
#   devarch init $DEVARCH_DEMO_HOME/demo/STACK/devarch.yml --yes -> the stack is running
#   devarch status STACK                                      -> what runs, with host ports
#   devarch plan STACK                                        -> no changes: the world matches
# State lives in the demo's own store, $DEVARCH_DEMO_HOME (default: ./.devarch-demo under the
# current directory), never in your DEVARCH_HOME or DEVARCH_STORE. Before init,
# scripts/demo_prepare.py refuses to go on when a container or network of a stack called STACK
# belongs to another devarch store (another DEVARCH_HOME) or to another tool: the demo never
# touches them; run it under another name instead.
set -euo pipefail

case "${1:-}" in
  -h|--help) sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
stack="${1:-shop}"

# The demo's own store: never your DEVARCH_HOME or DEVARCH_STORE, whose stacks it could change.
export DEVARCH_HOME="${DEVARCH_DEMO_HOME:-$PWD/.devarch-demo}"
unset DEVARCH_STORE
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# Absolute, so the tear-down command printed at the end works from any directory.
export DEVARCH_CATALOG_PATH="${DEVARCH_CATALOG_PATH:-$PWD/examples/catalog}"

bash .ci/setup-engines.sh

if [ ! -x .venv/bin/python ]; then
  echo "[venv] creating .venv"
  python3 -m venv .venv
fi
echo "[venv] installing devarch[dev] into .venv"
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
step() { printf '\n%s$ %s%s\n' "$bold" "$*" "$plain"; "$@"; }

# The manifest (and the lockfile init writes beside it) live in this store's home, per stack.
manifest_dir="$DEVARCH_HOME/demo/$stack"
.venv/bin/python scripts/demo_prepare.py "$stack" "$manifest_dir"

echo "DEVARCH_HOME=$DEVARCH_HOME  DEVARCH_CATALOG_PATH=$DEVARCH_CATALOG_PATH"
step .venv/bin/devarch init "$manifest_dir/devarch.yml" --yes
step .venv/bin/devarch status "$stack"
# --detailed-exitcode: exit 2 if the plan still has changes, so the demo proves convergence.
if ! step .venv/bin/devarch plan "$stack" --detailed-exitcode; then
  echo "demo: the plan after init is not empty; init did not converge" >&2
  exit 1
fi

echo
echo "The $stack stack is running. Tear it down (containers and network; the definition stays) with:"
printf '  cd %q && DEVARCH_HOME=%q DEVARCH_CATALOG_PATH=%q .venv/bin/devarch down %q\n' \
  "$PWD" "$DEVARCH_HOME" "$DEVARCH_CATALOG_PATH" "$stack"
echo "Open it in the dashboard (then pick the $stack stack; Ctrl-C stops the server) with:"
printf '  cd %q && DEVARCH_HOME=%q DEVARCH_CATALOG_PATH=%q .venv/bin/devarch serve --open\n' \
  "$PWD" "$DEVARCH_HOME" "$DEVARCH_CATALOG_PATH"

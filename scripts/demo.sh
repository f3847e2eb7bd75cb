#!/usr/bin/env bash
# Runs the example "shop" stack on the embedded SQLite store (the default), from a fresh
# Debian 12 machine as root: starts the engines, creates .venv if absent, installs devarch, then
#   devarch init examples/shop/devarch.yml --yes   -> the stack is running
#   devarch status shop                            -> what runs, with host ports
#   devarch plan shop                              -> no changes: the world matches the manifest
# State lives in $DEVARCH_HOME (default: ./.devarch-demo under the current directory).
set -euo pipefail

export DEVARCH_HOME="${DEVARCH_HOME:-$PWD/.devarch-demo}"
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

echo "DEVARCH_HOME=$DEVARCH_HOME  DEVARCH_CATALOG_PATH=$DEVARCH_CATALOG_PATH"
step .venv/bin/devarch init examples/shop/devarch.yml --yes
step .venv/bin/devarch status shop
# --detailed-exitcode: exit 2 if the plan still has changes, so the demo proves convergence.
if ! step .venv/bin/devarch plan shop --detailed-exitcode; then
  echo "demo: the plan after init is not empty; init did not converge" >&2
  exit 1
fi

echo
echo "The shop stack is running. Tear it down (containers and network; the definition stays) with:"
printf '  cd %q && DEVARCH_HOME=%q DEVARCH_CATALOG_PATH=%q .venv/bin/devarch down shop\n' \
  "$PWD" "$DEVARCH_HOME" "$DEVARCH_CATALOG_PATH"

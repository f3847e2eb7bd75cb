#!/usr/bin/env bash
# Runs the whole test suite from a fresh Debian 12 machine (as root, Python 3.11): starts the
# engines (Docker, Podman socket, PostgreSQL, docker-compose, the busybox test image), creates
# .venv if absent, installs devarch with its dev extra, then runs pytest. This is what CI runs.
#
#   bash scripts/test.sh                      # everything
#   bash scripts/test.sh tests/unit -x        # extra arguments go to pytest
#
# Exits with pytest's status, except that "no tests collected" (5) is a failure too.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash .ci/setup-engines.sh

if [ ! -x .venv/bin/python ]; then
  echo "[venv] creating .venv"
  python3 -m venv .venv
fi
echo "[venv] installing devarch[dev] into .venv"
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'

status=0
.venv/bin/python -m pytest -p no:cacheprovider "$@" || status=$?
if [ "$status" -eq 5 ]; then
  echo "scripts/test.sh: pytest collected no tests; that counts as a failure" >&2
  exit 1
fi
exit "$status"

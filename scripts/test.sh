#!/usr/bin/env bash
# The full check, as the README and CI run it: set-up (a no-op when up to date), lint, format, tests.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh -k fusion -x`).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
# shellcheck disable=SC1091
source scripts/env.sh
ruff check .
ruff format --check .
set +e
python -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "test.sh: pytest collected no tests - that is a failure, not a pass" >&2
  exit 1
fi
exit "$rc"

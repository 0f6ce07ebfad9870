#!/usr/bin/env bash
# The README's demo command: set-up (a no-op when up to date), then `codediffuser demo`.
# Extra arguments go to `codediffuser demo` (e.g. `bash scripts/demo.sh --task hang_mug`).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
# shellcheck disable=SC1091
source scripts/env.sh
exec codediffuser demo "$@"

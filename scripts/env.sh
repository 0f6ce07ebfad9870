# Source this file to use the project's environment in a shell: `source scripts/env.sh`.
# It activates .venv and points Vulkan at the project-local lavapipe (SAPIEN cameras on the CPU).
_cd_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck disable=SC1091
source "$_cd_root/.venv/bin/activate"
export VK_ICD_FILENAMES="$_cd_root/.venv/mesa/lvp_icd.json"
unset _cd_root

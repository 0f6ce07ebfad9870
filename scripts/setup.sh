#!/usr/bin/env bash
# Idempotent set-up of a bare Debian 12 / Python 3.11 machine for codediffuser.
#
# 1. system packages: libusb-1.0-0 (open3d)
# 2. Mesa 25 lavapipe (Vulkan on the CPU, for SAPIEN cameras) from bookworm-backports, unpacked into
#    .venv/mesa - the system Mesa is not touched. The codediffuser entry points export
#    VK_ICD_FILENAMES themselves; for other shells: `source scripts/env.sh`.
# 3. .venv with torch==2.13.0 (CPU, pinned by constraints.txt) and every package in src/ (editable).
#
# A stamp of the inputs (this script, constraints, package metadata) makes a second run a no-op.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="$root/.venv"
python="${PYTHON:-python3}"
packages=(codediffuser_msgs codediffuser_perception codediffuser_codegen codediffuser_policy codediffuser_sim codediffuser)

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

stamp_inputs() {
  cat scripts/setup.sh constraints.txt requirements-dev.txt
  for p in "${packages[@]}"; do cat "src/$p/setup.py" "src/$p/package.xml" 2>/dev/null || true; done
}
stamp="$(stamp_inputs | sha256sum | cut -d' ' -f1)"
if [ -f "$venv/.setup-stamp" ] && [ "$(cat "$venv/.setup-stamp")" = "$stamp" ] \
   && [ -f "$venv/mesa/lvp_icd.json" ] && "$venv/bin/python" -c 'import codediffuser' 2>/dev/null; then
  log "environment up to date ($venv)"
  exit 0
fi

# --- 1. system packages -------------------------------------------------------------------------
apt_updated=0
apt_update() { [ "$apt_updated" = 1 ] || { as_root apt-get update -qq; apt_updated=1; }; }
if ! ldconfig -p | grep -q 'libusb-1.0.so.0'; then
  log "installing libusb-1.0-0 (open3d)"
  apt_update
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq libusb-1.0-0 >/dev/null
fi

if ! ldconfig -p | grep -q 'libGL.so.1' || ! ldconfig -p | grep -q 'libglib-2.0.so.0'; then
  log "installing libgl1 + libglib2.0-0 (opencv, pulled in by SAPIEN)"
  apt_update
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq libgl1 libglib2.0-0 >/dev/null
fi

# --- 2. Mesa lavapipe from bookworm-backports, project-local ------------------------------------
if [ ! -f "$venv/mesa/lvp_icd.json" ]; then
  backports=/etc/apt/sources.list.d/bookworm-backports.sources
  if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    log "adding the bookworm-backports apt suite ($backports)"
    uri="$(awk '/^URIs:/ && $2 ~ /debian\/?$/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)"
    key="$(awk '/^Signed-By:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)"
    printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: %s\n' \
      "${uri:-http://deb.debian.org/debian}" "${key:-/usr/share/keyrings/debian-archive-keyring.gpg}" \
      | as_root tee "$backports" >/dev/null
    apt_updated=0
  fi
  apt_update
  log "unpacking Mesa lavapipe (bookworm-backports) into $venv/mesa"
  tmp="$(mktemp -d)"
  (cd "$tmp" && apt-get download -qq mesa-vulkan-drivers/bookworm-backports)
  mkdir -p "$venv/mesa"
  dpkg -x "$tmp"/mesa-vulkan-drivers_*.deb "$venv/mesa"
  rm -rf "$tmp"
  lib="$(find "$venv/mesa" -name libvulkan_lvp.so | head -n1)"
  icd="$(find "$venv/mesa" -name lvp_icd*.json | head -n1)"
  [ -n "$lib" ] && [ -n "$icd" ] || { echo "setup: lavapipe not found in the mesa-vulkan-drivers package" >&2; exit 1; }
  "${python}" - "$icd" "$lib" "$venv/mesa/lvp_icd.json" <<'PY'
import json, sys
src, lib, dst = sys.argv[1:]
icd = json.load(open(src))
icd["ICD"]["library_path"] = lib
json.dump(icd, open(dst, "w"), indent=2)
PY
fi

# --- 3. Python environment -----------------------------------------------------------------------
if [ ! -x "$venv/bin/python" ]; then
  log "creating $venv"
  "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip install -q --constraint constraints.txt)
log "installing torch (CPU wheel, pinned)"
"${pip[@]}" torch 2>&1 | { grep -v "^WARNING: Location .file:///" || true; }
log "installing the codediffuser packages (editable) and dev tools"
editable=()
for p in "${packages[@]}"; do [ -f "src/$p/setup.py" ] && editable+=(-e "src/$p"); done
"${pip[@]}" "${editable[@]}" -r requirements-dev.txt 2>&1 | { grep -v "^WARNING: Location .file:///" || true; }
if "$venv/bin/python" -c 'import torchvision' 2>/dev/null; then
  echo "setup: torchvision got installed; it breaks beside the CPU torch wheel - remove it" >&2; exit 1
fi
echo "$stamp" > "$venv/.setup-stamp"
log "done: $("$venv/bin/python" -c 'import torch; print("torch", torch.__version__)')"

#!/usr/bin/env bash
# One-step set-up for `make test` and `make bench`: a .venv with wgtorch and its extras, and a
# Vulkan driver. Where no WebGPU adapter is found it installs Mesa's software driver (lavapipe)
# when it runs as root, and otherwise says exactly what to install.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=.venv
EXTRAS=${WGTORCH_EXTRAS:-dev,examples}

as_root() { [ "$(id -u)" = 0 ]; }
apt_install() {
  if as_root && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    echo "wgtorch setup: please install: $* (Debian/Ubuntu: sudo apt-get install $*)" >&2
    return 1
  fi
}

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV" 2>/dev/null || { apt_install python3-venv && "$PY" -m venv "$VENV"; }
fi
stamp="$VENV/.wgtorch-installed-$EXTRAS"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e ".[$EXTRAS]"
  touch "$stamp"
fi

if ! "$VENV/bin/python" -c "import wgtorch, sys; sys.exit(0 if wgtorch.wgpu.is_available() else 1)"; then
  echo "wgtorch setup: no WebGPU adapter found; installing Mesa's Vulkan drivers (software lavapipe)" >&2
  apt_install mesa-vulkan-drivers libvulkan1 || exit 1
  "$VENV/bin/python" -c "import wgtorch, sys; sys.exit(0 if wgtorch.wgpu.is_available() else 1)" || {
    echo "wgtorch setup: still no WebGPU adapter after installing mesa-vulkan-drivers" >&2; exit 1; }
fi

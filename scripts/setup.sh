#!/usr/bin/env bash
# Installs what is missing, and nothing that is already there:
#   - Debian packages: gcc-arm-none-eabi, libnewlib-arm-none-eabi, qemu-system-arm, and cmake and
#     clang for the build-integration tests (needs root)
#   - a virtual environment (.venv) with mcuforge and its Python dependencies
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}

need_apt=()
command -v arm-none-eabi-gcc >/dev/null || need_apt+=(gcc-arm-none-eabi)
[ -e /usr/lib/arm-none-eabi/newlib ] || [ -e /usr/lib/arm-none-eabi/lib/libc.a ] || need_apt+=(libnewlib-arm-none-eabi)
command -v qemu-system-arm >/dev/null || need_apt+=(qemu-system-arm)
command -v gcc >/dev/null || need_apt+=(gcc)
# Debian/Ubuntu ship python3 without ensurepip: `python3 -m venv` fails until python3-venv is in
python3 -c "import ensurepip" 2>/dev/null || need_apt+=(python3-venv)
command -v make >/dev/null || need_apt+=(make)
command -v cmake >/dev/null || need_apt+=(cmake)
command -v clang >/dev/null || need_apt+=(clang)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "setup: installing Debian packages: ${need_apt[*]}"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

stamp="$VENV/.mcuforge-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "setup: creating $VENV with mcuforge and its Python dependencies"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q -e ".[test]"
    # picamera2's source for the contract test (tests/test_picamera2_contract.py): its
    # dependencies (libcamera bindings, python-prctl, av, ...) cannot be installed off a Pi
    "$VENV/bin/pip" install -q --no-deps "picamera2==0.3.38"
    touch "$stamp"
fi

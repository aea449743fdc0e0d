#!/usr/bin/env bash
# Idempotent environment setup for napari-im2im.
#
#   bash scripts/setup_env.sh
#
# 1. (root + apt-get only) installs Xvfb and the X11/xcb/OpenGL libraries that
#    PyQt6 + napari (vispy) need, skipping apt entirely when all are present;
# 2. creates .venv in the repository root if it is missing;
# 3. installs torch==2.14.1 / torchvision==0.29.1 FIRST (the only torch spec we
#    ever give pip; any other spec makes pip fetch gigabytes of CUDA wheels);
# 4. pip install -e ".[all,testing]" with torch pinned by a constraints file.
#
# A second run is a no-op (a few seconds): step 4 is skipped while the stamp
# file .venv/.im2im-installed matches a fingerprint of setup.cfg,
# pyproject.toml and the package layout.  Set IM2IM_FORCE_INSTALL=1 to force.
# Set PYTHON=/path/to/python3.x to choose the interpreter for a new venv.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv"
PY="$VENV/bin/python"
STAMP="$VENV/.im2im-installed"
CONSTRAINTS="$VENV/.im2im-constraints.txt"
TORCH_VERSION="2.14.1"
TORCHVISION_VERSION="0.29.1"

# Xvfb for pytest-xvfb, plus what PyQt6's xcb platform plugin and vispy's
# OpenGL (Mesa llvmpipe software rendering under Xvfb) load at run time.
APT_PKGS=(
    xvfb xauth
    libgl1 libglx-mesa0 libgl1-mesa-dri libegl1 libopengl0
    libglib2.0-0 libdbus-1-3 libfontconfig1 libfreetype6
    libxkbcommon0 libxkbcommon-x11-0 libx11-xcb1
    libxcb1 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1
    libxcb-randr0 libxcb-render0 libxcb-render-util0 libxcb-shape0
    libxcb-shm0 libxcb-sync1 libxcb-xfixes0 libxcb-xinerama0 libxcb-xkb1
)

step() { printf '\n==> [setup_env] %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
die() { printf '\nERROR [setup_env]: %s\n' "$*" >&2; exit 1; }

# --------------------------------------------------------------------------
step "1/4 system packages (Xvfb, xcb, OpenGL)"
missing=()
if command -v dpkg-query >/dev/null 2>&1; then
    for p in "${APT_PKGS[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$p")
        fi
    done
fi
if [ "${#missing[@]}" -eq 0 ]; then
    if command -v dpkg-query >/dev/null 2>&1; then
        info "all ${#APT_PKGS[@]} packages already installed"
    else
        info "no dpkg on this system: skipping (install Xvfb + Qt xcb/GL libs yourself)"
    fi
elif [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    info "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || die "apt-get update failed"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || die "apt-get install failed for: ${missing[*]}"
else
    info "WARNING: missing system packages (not root or no apt-get, not installing):"
    info "  ${missing[*]}"
    info "  GUI tests need Xvfb; e.g. sudo apt-get install -y ${missing[*]}"
fi

# --------------------------------------------------------------------------
step "2/4 virtual environment ($VENV)"
if [ -x "$PY" ] && "$PY" -c 'import sys' >/dev/null 2>&1; then
    info "exists: $("$PY" --version 2>&1)"
else
    BASE_PY="${PYTHON:-python3}"
    command -v "$BASE_PY" >/dev/null 2>&1 || die "$BASE_PY not found"
    "$BASE_PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
        || die "$BASE_PY is older than 3.10"
    rm -rf "$VENV"
    "$BASE_PY" -m venv "$VENV" || die "python -m venv failed (Debian: apt-get install python3-venv)"
    info "created with $("$PY" --version 2>&1)"
fi
PIP=("$PY" -m pip --disable-pip-version-check)
pip_q() {  # quiet pip; drops the harmless "Location ... is ignored" noise of
           # the local mirrors, keeps pip's exit status (pipefail)
    { "${PIP[@]}" "$@" -q --progress-bar off 2>&1 1>&3 \
        | sed '/is ignored: it is neither a file nor a directory/d' >&2; } 3>&1
}

dist_version() {  # prints the installed version of a distribution, or nothing
    "$PY" - "$1" <<'EOF' 2>/dev/null || true
import sys
from importlib.metadata import version, PackageNotFoundError
try:
    print(version(sys.argv[1]))
except PackageNotFoundError:
    pass
EOF
}

# --------------------------------------------------------------------------
step "3/4 torch==$TORCH_VERSION torchvision==$TORCHVISION_VERSION"
tv="$(dist_version torch)"; tvv="$(dist_version torchvision)"
if [ "${tv%%+*}" = "$TORCH_VERSION" ] && [ "${tvv%%+*}" = "$TORCHVISION_VERSION" ]; then
    info "already installed (torch $tv, torchvision $tvv)"
else
    # the installed environment takes about 7 GB, and pip unpacks the wheels in TMPDIR first:
    # say so up front rather than fail half-way with pip's "No space left on device"
    for d in "$VENV" "${TMPDIR:-/tmp}"; do
        free_gb=$(df -Pk "$d" | awk 'NR == 2 {print int($4 / 1048576)}')
        [ "$free_gb" -ge "${IM2IM_MIN_FREE_GB:-8}" ] \
            || die "only ${free_gb} GB free under $d; the environment needs about ${IM2IM_MIN_FREE_GB:-8} GB (free some space, or point TMPDIR elsewhere)"
    done
    info "installing (found torch='${tv:-none}' torchvision='${tvv:-none}'); this takes a minute or two"
    pip_q install \
        "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION" \
        || die "torch install failed"
    rm -f "$STAMP"
fi
# The committed constraints (scripts/constraints.txt: every package at the version the suite passed
# with) plus the torch pins; refresh them as the README says.
# IM2IM_UNPINNED=1 keeps only the torch pins (to refresh the constraints, as the README says).
{ printf 'torch==%s\ntorchvision==%s\n' "$TORCH_VERSION" "$TORCHVISION_VERSION"
  [ -n "${IM2IM_UNPINNED:-}" ] || grep -vE '^(torch|torchvision)==' "$ROOT/scripts/constraints.txt"; } > "$CONSTRAINTS"

# --------------------------------------------------------------------------
step "4/4 pip install -e \".[all,testing]\""
# Fingerprint: packaging metadata + which top-level packages exist (an
# editable install made before a package existed does not map it).
fingerprint() {
    {
        echo "torch=$TORCH_VERSION torchvision=$TORCHVISION_VERSION"
        echo "== constraints ${IM2IM_UNPINNED:-pinned}"; cat scripts/constraints.txt
        for f in setup.cfg pyproject.toml setup.py; do
            if [ -f "$f" ]; then echo "== $f"; cat "$f"; fi
        done
        for d in im2im_core napari_im2im training; do
            if [ -f "$d/__init__.py" ]; then echo "pkg $d"; fi
        done
        if [ -f napari_im2im/napari.yaml ]; then echo "manifest"; fi
    } | cksum
}
FP="$(fingerprint)"
if [ -z "${IM2IM_FORCE_INSTALL:-}" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$FP" ]; then
    info "up to date (stamp $STAMP); IM2IM_FORCE_INSTALL=1 to reinstall"
else
    info "installing the project and its dependencies (napari etc.: first time takes minutes)"
    PIP_CONSTRAINT="$CONSTRAINTS" pip_q install \
        -e ".[all,testing]" || die "pip install -e .[all,testing] failed"
    tv="$(dist_version torch)"
    [ "${tv%%+*}" = "$TORCH_VERSION" ] || die "torch changed to '$tv' during install"
    for other in PySide6 PySide2 PyQt5; do
        ov="$(dist_version "$other")"
        if [ -n "$ov" ]; then
            info "WARNING: $other $ov is installed next to PyQt6; qtpy/pytest-qt may pick it"
            info "         (pytest.ini sets qt_api=pyqt6, scripts export QT_API=pyqt6)"
        fi
    done
    echo "$FP" > "$STAMP"
fi

info "ready: $("$PY" --version 2>&1), torch $(dist_version torch), napari $(dist_version napari || true)"

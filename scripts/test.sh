#!/usr/bin/env bash
# Set up the environment (idempotent, fast when already done) and run the
# test suite.  Extra arguments go to pytest:
#
#   bash scripts/test.sh                              # whole suite (tests/)
#   bash scripts/test.sh -q
#   bash scripts/test.sh tests/test_napari_smoke.py -x
#
# GUI tests get their X display from pytest-xvfb (Xvfb is installed by
# scripts/setup_env.sh when run as root).  pytest's exit code is returned
# unchanged, so "no tests collected" (exit 5) is a failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup_env.sh"
cd "$ROOT"

# One Qt binding for everybody: qtpy (napari, magicgui) and pytest-qt.
export QT_API="${QT_API:-pyqt6}"
export PYTEST_QT_API="${PYTEST_QT_API:-pyqt6}"
# Keep CPU tests predictable on small machines.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
export MPLBACKEND="${MPLBACKEND:-Agg}"

# Run "tests" unless the caller named test paths (file, dir or node id).
has_path=0
for a in "$@"; do
    case "$a" in -*) continue ;; esac
    [ -e "${a%%::*}" ] && { has_path=1; break; }
done
args=("$@")
[ "$has_path" -eq 1 ] || args=(tests "$@")
# Tests run one torch thread each (tests/conftest.py), so one pytest-xdist worker per core, at most
# 4 (memory), whole modules per worker (module fixtures load once); PYTEST_WORKERS=0 runs serially.
workers="${PYTEST_WORKERS:-$(nproc 2>/dev/null || echo 1)}"
[ "$workers" -gt 4 ] && workers=4
solo=()
marked=0  # the caller chose tests by marker (-m ...): one run, no solo split
for a in "$@"; do [ "$a" = "-m" ] && marked=1; done
if [ "$workers" -gt 1 ] && [ "$marked" -eq 1 ]; then
    # a marker picks a few long tests from many modules: spread them one by one, not by module
    args=(-n "$workers" --dist load "${args[@]}")
elif [ "$workers" -gt 1 ]; then
    # timing-sensitive tests (marker "solo") would measure the other workers' load: they run
    # afterwards, alone, on the same paths and options
    solo=(-m solo "${args[@]}")
    args=(-n "$workers" --dist loadscope -m "not solo" "${args[@]}")
fi

run() {
    printf '\n==> [test] python -m pytest %s\n' "$*"
    set +e
    "$ROOT/.venv/bin/python" -m pytest "$@"
    local code=$?
    set -e
    if [ "$code" -eq 5 ]; then
        echo "ERROR [test]: pytest collected no tests (exit 5)" >&2
    fi
    return "$code"
}

rc=0
run "${args[@]}" || rc=$?
if [ "${#solo[@]}" -gt 0 ]; then
    src=0
    run "${solo[@]}" || src=$?
    # exit 5 (no tests) from one of the two runs only means the paths hold none of that kind
    if [ "$rc" -eq 5 ]; then rc=$src; elif [ "$src" -ne 5 ] && [ "$rc" -eq 0 ]; then rc=$src; fi
fi
exit "$rc"

#!/usr/bin/env bash
# Set up (or refresh) the mmrlkd development environment in ./.venv.
#
# Idempotent: a second run checks a stamp and exits in seconds. The slow part
# of a fresh set-up is compiling mmcv 2.1.0 (PyPI has only its sdist); the
# built wheel is cached under a key made of the mmcv, torch, CUDA, Python and
# machine versions, so it is never reused against another torch.
#
# Environment variables (all optional):
#   PYTHON                  interpreter for the venv (default: python3.11, else python3)
#   MMRLKD_VENV             venv location (default: <repo>/.venv)
#   MMRLKD_TORCH            torch pip specs (default: "torch==2.14.1 torchvision==0.29.1")
#   MMRLKD_TORCH_PIP_ARGS   extra pip args for torch, e.g. "--index-url <your CUDA index>"
#   MMRLKD_CACHE_DIR        wheel cache (default: ${XDG_CACHE_HOME:-~/.cache}/mmrlkd)
#   MAX_JOBS                parallel compile jobs for mmcv (default: number of cores)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MMRLKD_VENV:-$ROOT/.venv}"
TORCH_SPEC="${MMRLKD_TORCH:-torch==2.14.1 torchvision==0.29.1}"
TORCH_PIP_ARGS="${MMRLKD_TORCH_PIP_ARGS:-}"
CACHE_DIR="${MMRLKD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mmrlkd}"
MMCV_VERSION=2.1.0
SETUPTOOLS_SPEC='setuptools>=77.0.3,<82'
export MAX_JOBS="${MAX_JOBS:-$(nproc 2>/dev/null || echo 2)}"
START=$SECONDS

say() { printf '[setup %4ds] %s\n' "$((SECONDS - START))" "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- stamp check
stamp_of() {
    {
        cat "$ROOT/tools/setup_env.sh" "$ROOT/setup.py" "$ROOT"/requirements/*.txt
        echo "$TORCH_SPEC|$TORCH_PIP_ARGS|$VENV"
    } | sha256sum | cut -d' ' -f1
}
STAMP_FILE="$VENV/.mmrlkd-setup-stamp"
STAMP="$(stamp_of)"
if [[ -f "$STAMP_FILE" && "$(cat "$STAMP_FILE")" == "$STAMP" ]] &&
    "$VENV/bin/python" -c 'import mmrlkd' 2>/dev/null; then
    say "environment in $VENV is up to date (delete $STAMP_FILE to force a refresh)"
    exit 0
fi

# ---------------------------------------------------------------- 1. venv
if [[ -z "${PYTHON:-}" ]]; then
    PYTHON=$(command -v python3.11 || command -v python3 || true)
fi
[[ -n "$PYTHON" ]] || die "no python3 found; install Python 3.11"
PY_VER=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
[[ "$PY_VER" == "3.11" ]] || say "warning: Python $PY_VER; mmrlkd is tested on 3.11"

if [[ ! -x "$VENV/bin/python" ]]; then
    say "1/6 creating virtual environment $VENV ($PYTHON, Python $PY_VER)"
    "$PYTHON" -m venv "$VENV"
else
    say "1/6 reusing virtual environment $VENV"
fi
PY="$VENV/bin/python"
# pip, minus the warnings some machines' local package mirrors add to stderr.
pip_() {
    "$PY" -m pip --disable-pip-version-check "$@" \
        2> >(grep -v "^WARNING: Location 'file:" >&2)
}

# ---------------------------------------------------------------- 2. torch
say "2/6 installing $TORCH_SPEC and build tools ($SETUPTOOLS_SPEC, wheel, ninja)"
# shellcheck disable=SC2086
pip_ install -q $TORCH_PIP_ARGS $TORCH_SPEC "$SETUPTOOLS_SPEC" wheel ninja
TORCH_VER=$("$PY" -c 'import torch; print(torch.__version__)')
say "    torch $TORCH_VER"

# ---------------------------------------------------------------- 3. mmengine
say "3/6 installing mmengine 0.10.7 and mmcv's pure-Python dependencies"
pip_ install -q mmengine==0.10.7 addict packaging Pillow pyyaml yapf \
    opencv-python

# ---------------------------------------------------------------- 4. mmcv
# The key names everything the compiled ops depend on.
MMCV_KEY=$("$PY" - "$MMCV_VERSION" <<'EOF'
import os, platform, sys
import torch
# mmcv's setup.py compiles CUDA ops under the same condition.
with_cuda = torch.cuda.is_available() or os.getenv('FORCE_CUDA') == '1'
ops = f'cuda{torch.version.cuda}' if with_cuda else 'cpu'
print(f'mmcv{sys.argv[1]}-torch{torch.__version__}-{ops}-'
      f'cp{sys.version_info[0]}{sys.version_info[1]}-{platform.machine()}'
      .replace('+', '_'))
EOF
)
MMCV_CACHE="$CACHE_DIR/wheels/$MMCV_KEY"
MMCV_MARK="$VENV/.mmrlkd-mmcv-key"
mmcv_ok() {
    [[ -f "$MMCV_MARK" && "$(cat "$MMCV_MARK")" == "$MMCV_KEY" ]] &&
        "$PY" -c "import mmcv, mmcv._ext; assert mmcv.__version__ == '$MMCV_VERSION'" 2>/dev/null
}
if mmcv_ok; then
    say "4/6 mmcv $MMCV_VERSION with compiled ops already installed ($MMCV_KEY)"
else
    if ! ls "$MMCV_CACHE"/mmcv-*.whl >/dev/null 2>&1; then
        say "4/6 compiling mmcv $MMCV_VERSION with its ops against torch $TORCH_VER"
        say "    this is the long step: 10-30 minutes on 2 cores for CPU ops"
        say "    (much longer with CUDA ops); MAX_JOBS=$MAX_JOBS; the wheel is cached in"
        say "    $MMCV_CACHE"
        BUILD=$(mktemp -d)
        trap 'rm -rf "$BUILD"' EXIT
        pip_ download -q --no-deps --no-binary mmcv --no-build-isolation \
            -d "$BUILD" "mmcv==$MMCV_VERSION"
        tar -xzf "$BUILD/mmcv-$MMCV_VERSION.tar.gz" -C "$BUILD"
        SRC="$BUILD/mmcv-$MMCV_VERSION"
        # torch >= 2.14 headers need C++20, mmcv's setup.py forces C++17.
        if "$PY" -c 'import sys, torch; from packaging.version import Version as V; sys.exit(V(torch.__version__.split("+")[0]) < V("2.14"))'; then
            say "    torch >= 2.14: patching mmcv's -std=c++17 to -std=c++20"
            sed -i 's/-std=c++17/-std=c++20/g' "$SRC/setup.py"
        fi
        BUILD_START=$SECONDS
        MMCV_WITH_OPS=1 pip_ wheel --no-build-isolation --no-deps \
            -w "$BUILD/wheel" "$SRC" > "$BUILD/build.log" 2>&1 ||
            { tail -n 60 "$BUILD/build.log" >&2; die "mmcv build failed (log above)"; }
        mkdir -p "$MMCV_CACHE"
        cp "$BUILD"/wheel/mmcv-*.whl "$MMCV_CACHE.tmp.whl"
        mv "$MMCV_CACHE.tmp.whl" "$MMCV_CACHE/$(basename "$BUILD"/wheel/mmcv-*.whl)"
        say "    mmcv compiled in $((SECONDS - BUILD_START)) s"
    else
        say "4/6 installing cached mmcv wheel ($MMCV_KEY)"
    fi
    pip_ install -q --force-reinstall --no-deps "$MMCV_CACHE"/mmcv-*.whl
    echo "$MMCV_KEY" > "$MMCV_MARK"
    mmcv_ok || die "mmcv was installed but 'import mmcv._ext' fails"
fi

# ---------------------------------------------------------------- 5. OpenMMLab
say "5/6 installing mmdet 3.3.0, mmpretrain 1.2.0, mmrazor 1.0.0 and the rest"
pip_ install -q -r "$ROOT/requirements/mminstall.txt" \
    -r "$ROOT/requirements.txt" "$SETUPTOOLS_SPEC" $TORCH_SPEC

# ---------------------------------------------------------------- 6. mmrlkd
say "6/6 installing mmrlkd in editable mode"
pip_ install -q --no-build-isolation --no-deps -e "$ROOT"
"$PY" -c 'import mmrlkd; print(mmrlkd.compat.environment_summary())'
echo "$STAMP" > "$STAMP_FILE"
say "done in $((SECONDS - START)) s; activate with: source $VENV/bin/activate"

#!/usr/bin/env bash
# Set up (or refresh) the mmrlkd development environment in ./.venv.
#
# Idempotent: a second run checks a stamp and exits in seconds. The slow part
# of a fresh set-up is compiling mmcv 2.1.0 (PyPI has only its sdist); the
# built wheel is cached under a key made of the mmcv, torch, Python and
# machine versions and of the ops it holds (CPU, or the CUDA version and GPU
# architectures), so it is never reused against another torch or GPU. The
# stamp holds the same key: a venv first built without a GPU is rebuilt on a
# GPU node.
#
# Usage: bash tools/setup_env.sh [--print-key]
#        bash tools/setup_env.sh --wheelhouse DIR [--python-version X.Y]
#                                [--platform TAG]... [--freeze FILE]
#        bash tools/setup_env.sh --offline DIR [--no-venv] [--cuda-ops]
#   --print-key   print the mmcv wheel key, the stamp and the pip arguments
#                 for torch, then exit; installs nothing (needs the venv)
#   --wheelhouse DIR
#                 on a connected machine: put into DIR everything the stack
#                 needs that a torch environment lacks (the mmcv sdist too),
#                 for the target Python (--python-version, default this
#                 machine's python3) and platforms (--platform, default
#                 manylinux_2_28 and manylinux2014 of this machine), leaving
#                 out what the node's `pip freeze` (--freeze FILE) shows;
#                 writes SHA256SUMS and checks that everything resolves.
#                 MMRLKD_WHEELHOUSE_EXTRA: more specs, e.g. "openmim".
#   --offline DIR on a node without network: use its Python and torch (a
#                 venv with --system-site-packages over $PYTHON at
#                 MMRLKD_VENV, or with --no-venv $PYTHON's own environment),
#                 install from DIR with no index, build mmcv against that
#                 torch (CPU ops; --cuda-ops or MMRLKD_MMCV_OPS=cuda for CUDA
#                 ops), install mmrlkd; prints each step's time.
#                 See docs/en/air_gapped_gpu_nodes.md.
#
# Environment variables (all optional):
#   PYTHON                  interpreter for the venv (default: python3.11, else
#                           python3; --wheelhouse and --offline: python3)
#   MMRLKD_VENV             venv location (default: <repo>/.venv)
#   MMRLKD_TORCH            torch pip specs (default: "torch==2.14.1 torchvision==0.29.1")
#   MMRLKD_TORCH_INDEX_URL  wheel index for a CUDA torch, added with
#                           --extra-index-url (PyPI still serves the rest),
#                           e.g. https://download.pytorch.org/whl/cu128
#   MMRLKD_TORCH_PIP_ARGS   more pip args for torch; given to every pip call
#                           that may install torch (an --index-url here stays
#                           as is for torch and is an --extra-index-url for
#                           the calls that also need PyPI)
#   MMRLKD_MMCV_OPS         auto (default): mmcv gets CUDA ops when torch sees
#                           a GPU or FORCE_CUDA=1, as mmcv's setup.py decides;
#                           cpu: CPU ops only, even on a GPU node (detection on
#                           the GPU then uses mmrlkd's torchvision fallback);
#                           cuda: CUDA ops even without a visible GPU
#   FORCE_CUDA              1: mmcv's own switch, same as MMRLKD_MMCV_OPS=cuda
#   TORCH_CUDA_ARCH_LIST    GPU architectures for mmcv's CUDA ops, e.g.
#                           "8.0;9.0" (default: the visible GPUs')
#   CUDA_HOME               CUDA toolkit with nvcc (default: found as torch does)
#   MMRLKD_CACHE_DIR        wheel cache (default: ${XDG_CACHE_HOME:-~/.cache}/mmrlkd)
#   MAX_JOBS                parallel compile jobs for mmcv (default: number of cores)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MMRLKD_VENV:-$ROOT/.venv}"
TORCH_SPEC="${MMRLKD_TORCH:-torch==2.14.1 torchvision==0.29.1}"
CACHE_DIR="${MMRLKD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mmrlkd}"
MMCV_VERSION=2.1.0
SETUPTOOLS_SPEC='setuptools>=77.0.3,<82'
export MAX_JOBS="${MAX_JOBS:-$(nproc 2>/dev/null || echo 2)}"
START=$SECONDS

say() { printf '[setup %4ds] %s\n' "$((SECONDS - START))" "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

USAGE="usage: $0 [--print-key] | --wheelhouse DIR [--python-version X.Y] \
[--platform TAG]... [--freeze FILE] | --offline DIR [--no-venv] [--cuda-ops]"
PRINT_KEY=0 MODE=setup DIR='' WH_PYTHON='' WH_FREEZE='' NO_VENV=0
WH_PLATFORMS=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --print-key) PRINT_KEY=1 ;;
        --wheelhouse|--offline)
            [[ -n "${2:-}" ]] || die "$1 needs a folder ($USAGE)"
            MODE=${1#--} DIR=$2; shift ;;
        --python-version) WH_PYTHON=${2:?}; shift ;;
        --platform) WH_PLATFORMS+=("${2:?}"); shift ;;
        --freeze) WH_FREEZE=$(realpath "${2:?}"); shift ;;
        --no-venv) NO_VENV=1 ;;
        --cuda-ops) export MMRLKD_MMCV_OPS=cuda ;;
        -h|--help) echo "$USAGE"; exit 0 ;;
        *) die "unknown argument '$1' ($USAGE)" ;;
    esac
    shift
done
HELPER="$ROOT/tools/misc/wheelhouse.py"

# ---------------------------------------------------------------- wheelhouse
if [[ $MODE == wheelhouse ]]; then
    HOST_PY=${PYTHON:-python3}
    WH_PYTHON=${WH_PYTHON:-$("$HOST_PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')}
    if [[ ${#WH_PLATFORMS[@]} == 0 ]]; then
        WH_PLATFORMS=("manylinux_2_28_$(uname -m)" "manylinux2014_$(uname -m)")
    fi
    mkdir -p "$DIR"
    DIR=$(realpath "$DIR")
    say "wheelhouse for Python $WH_PYTHON on ${WH_PLATFORMS[*]} in $DIR" \
        "(leaving out torch, torchvision${WH_FREEZE:+ and what $WH_FREEZE shows})"
    args=(--python-version "$WH_PYTHON")
    for platform in "${WH_PLATFORMS[@]}"; do args+=(--platform "$platform"); done
    [[ -z "$WH_FREEZE" ]] || args+=(--freeze "$WH_FREEZE")
    # The stack, mmrlkd's own requirements and the test runner; not the
    # mim tests' openmim (with pandas and requests it doubles the folder).
    extra=(--extra "$SETUPTOOLS_SPEC" --extra pytest --extra pytest-xdist)
    for spec in ${MMRLKD_WHEELHOUSE_EXTRA:-}; do extra+=(--extra "$spec"); done
    "$HOST_PY" "$HELPER" download "$DIR" "${args[@]}" \
        -r "$ROOT/requirements/mminstall.txt" \
        -r "$ROOT/requirements/runtime.txt" \
        -r "$ROOT/requirements/optional.txt" "${extra[@]}" --sdist mmcv \
        2> >(grep -v "^WARNING: Location 'file:" >&2)
    "$HOST_PY" "$HELPER" verify "$DIR" ${WH_FREEZE:+--freeze "$WH_FREEZE"}
    say "done: $(ls "$DIR" | grep -c -E '\.(whl|tar\.gz)$') files," \
        "$(du -sh "$DIR" | cut -f1); carry $DIR to the node and run" \
        "bash tools/setup_env.sh --offline DIR there"
    exit 0
fi
if [[ $MODE == offline ]]; then
    [[ -f "$DIR/wheelhouse.json" ]] ||
        die "$DIR is no wheelhouse (no wheelhouse.json): make one with --wheelhouse"
    DIR=$(realpath "$DIR")
    # No package index from here on; CPU ops unless CUDA ops are asked for.
    export PIP_NO_INDEX=1
    export MMRLKD_MMCV_OPS=${MMRLKD_MMCV_OPS:-cpu}
    if [[ $NO_VENV == 1 ]]; then  # the environment of $PYTHON itself
        VENV=$("${PYTHON:-python3}" -c 'import sys; print(sys.prefix)')
    fi
fi

# ---------------------------------------------------------------- pip args
# TORCH_PIP_ARGS: for the torch install. OTHER_PIP_ARGS: for every other call
# that may touch torch (it also needs PyPI, so an --index-url becomes extra).
read -r -a TORCH_PIP_ARGS <<< "${MMRLKD_TORCH_PIP_ARGS:-}"
if [[ -n "${MMRLKD_TORCH_INDEX_URL:-}" ]]; then
    TORCH_PIP_ARGS+=(--extra-index-url "$MMRLKD_TORCH_INDEX_URL")
fi
OTHER_PIP_ARGS=()
for arg in ${TORCH_PIP_ARGS[@]+"${TORCH_PIP_ARGS[@]}"}; do
    case "$arg" in
        --index-url|-i) OTHER_PIP_ARGS+=(--extra-index-url) ;;
        --index-url=*) OTHER_PIP_ARGS+=("--extra-index-url=${arg#--index-url=}") ;;
        *) OTHER_PIP_ARGS+=("$arg") ;;
    esac
done

# ---------------------------------------------------------------- mmcv key
# Prints key=..., ops=cpu|cuda, toolkit=ok ...|error ... (why a CUDA build
# would fail) and torch=<version>.
case "${MMRLKD_MMCV_OPS:-auto}" in
    auto|cpu|cuda) ;;
    *) die "MMRLKD_MMCV_OPS=$MMRLKD_MMCV_OPS: use auto, cpu or cuda" ;;
esac
if [[ "${MMRLKD_MMCV_OPS:-auto}" == cpu && "${FORCE_CUDA:-0}" == 1 ]]; then
    die "MMRLKD_MMCV_OPS=cpu and FORCE_CUDA=1 contradict each other"
fi
mmcv_build_info() {
    "$1" - "$MMCV_VERSION" <<'EOF'
import os, platform, re, subprocess, sys
import torch

mode = os.environ.get('MMRLKD_MMCV_OPS') or 'auto'
force = os.environ.get('FORCE_CUDA', '0') == '1'
# mmcv's setup.py compiles CUDA ops under the same condition (auto).
with_cuda = mode == 'cuda' or (mode == 'auto' and
                               (force or torch.cuda.is_available()))
archs = os.environ.get('TORCH_CUDA_ARCH_LIST', '').strip()
toolkit = 'ok: no CUDA ops to compile'
if not with_cuda:
    ops = 'cpu'
elif torch.version.hip:
    ops, toolkit = f'rocm{torch.version.hip}', 'ok: ROCm (not checked)'
else:
    if archs:
        arch = 'arch' + '_'.join(re.split(r'[;\s]+', archs))
    else:
        caps = sorted({torch.cuda.get_device_capability(i)
                       for i in range(torch.cuda.device_count())})
        arch = 'sm' + '_'.join(f'{a}{b}' for a, b in caps)
    ops = f'cuda{torch.version.cuda}-{arch}'
    from torch.utils.cpp_extension import CUDA_HOME
    nvcc = os.path.join(CUDA_HOME or '', 'bin', 'nvcc')
    if torch.version.cuda is None:
        toolkit = (f'error: torch {torch.__version__} is a CPU build; '
                   'install a CUDA torch (MMRLKD_TORCH_INDEX_URL)')
    elif not archs and torch.cuda.device_count() == 0:
        toolkit = ('error: no GPU is visible to choose the architectures; '
                   'set TORCH_CUDA_ARCH_LIST, e.g. "8.0;9.0"')
    elif CUDA_HOME is None or not os.access(nvcc, os.X_OK):
        toolkit = (f'error: no nvcc found (CUDA_HOME={CUDA_HOME}); install '
                   f'the CUDA {torch.version.cuda} toolkit and set CUDA_HOME')
    else:
        out = subprocess.run([nvcc, '--version'], capture_output=True,
                             text=True).stdout
        found = re.search(r'release (\d+\.\d+)', out)
        release = found.group(1) if found else 'unknown'
        if release.split('.')[0] != torch.version.cuda.split('.')[0]:
            toolkit = (f'error: {nvcc} is CUDA {release}, torch was built '
                       f'with CUDA {torch.version.cuda}; the major versions '
                       'must match (set CUDA_HOME to a matching toolkit)')
        else:
            toolkit = f'ok: {nvcc} (CUDA {release})'
print(f'key=mmcv{sys.argv[1]}-torch{torch.__version__}-{ops}-'
      f'cp{sys.version_info[0]}{sys.version_info[1]}-{platform.machine()}'
      .replace('+', '_'))
print(f'ops={"cpu" if ops == "cpu" else "cuda"}')
print(f'toolkit={toolkit}')
print(f'torch={torch.__version__}')
EOF
}

MMCV_KEY='' MMCV_OPS='' TOOLKIT='' TORCH_VER=''
read_build_info() {  # PYTHON: sets MMCV_KEY, MMCV_OPS, TOOLKIT, TORCH_VER
    local info name value
    info=$(mmcv_build_info "$1") || return 1
    while IFS='=' read -r name value; do
        case "$name" in
            key) MMCV_KEY=$value ;;
            ops) MMCV_OPS=$value ;;
            toolkit) TOOLKIT=$value ;;
            torch) TORCH_VER=$value ;;
        esac
    done <<< "$info"
}

# ---------------------------------------------------------------- stamp check
stamp_of() {
    {
        cat "$ROOT/tools/setup_env.sh" "$ROOT/setup.py" "$ROOT"/requirements/*.txt
        echo "$TORCH_SPEC|${TORCH_PIP_ARGS[*]:-}|$VENV|$MMCV_KEY"
    } | sha256sum | cut -d' ' -f1
}
STAMP_FILE="$VENV/.mmrlkd-setup-stamp"
if [[ $MODE == offline ]]; then
    :  # set up below, after the functions both modes share
elif [[ -x "$VENV/bin/python" ]] && read_build_info "$VENV/bin/python" 2>/dev/null; then
    STAMP="$(stamp_of)"
    if [[ $PRINT_KEY == 1 ]]; then
        printf 'key=%s\nops=%s\ntoolkit=%s\nstamp=%s\n' \
            "$MMCV_KEY" "$MMCV_OPS" "$TOOLKIT" "$STAMP"
        printf 'torch_pip_args=%s\nother_pip_args=%s\n' \
            "${TORCH_PIP_ARGS[*]:-}" "${OTHER_PIP_ARGS[*]:-}"
        exit 0
    fi
    if [[ -f "$STAMP_FILE" && "$(cat "$STAMP_FILE")" == "$STAMP" ]] &&
        "$VENV/bin/python" -c 'import mmrlkd' 2>/dev/null; then
        say "environment in $VENV is up to date ($MMCV_KEY;" \
            "delete $STAMP_FILE to force a refresh)"
        exit 0
    fi
elif [[ $PRINT_KEY == 1 ]]; then
    [[ -x "$VENV/bin/python" ]] || die "--print-key needs the venv $VENV"
    read_build_info "$VENV/bin/python" || die "cannot compute the mmcv key"
fi

# ---------------------------------------------------------------- mmcv
# install_mmcv STEP [SDIST]: install mmcv with compiled ops into $PY, from the
# cached wheel of its key, else built from SDIST (default: downloaded).
# The key names everything the compiled ops depend on.
mmcv_imports() {  # mmcv imports with compiled ops of the kind the key names
    "$PY" -c "
import mmcv, mmcv._ext
assert mmcv.__version__ == '$MMCV_VERSION'
cuda = mmcv._ext.get_compiling_cuda_version() != 'not available'
assert cuda == ('$MMCV_OPS' == 'cuda')" 2>/dev/null
}
mmcv_ok() {
    [[ -f "$MMCV_MARK" && "$(cat "$MMCV_MARK")" == "$MMCV_KEY" ]] && mmcv_imports
}
install_mmcv() {
    local STEP=$1 SDIST=${2:-}
    read_build_info "$PY" || die "cannot work out how to build mmcv (see above)"
    MMCV_CACHE="$CACHE_DIR/wheels/$MMCV_KEY"
    MMCV_MARK="$VENV/.mmrlkd-mmcv-key"
    if mmcv_ok; then
        say "$STEP mmcv $MMCV_VERSION with compiled ops already installed ($MMCV_KEY)"
        return
    fi
    if ! ls "$MMCV_CACHE"/mmcv-*.whl >/dev/null 2>&1; then
        if [[ $MMCV_OPS == cuda ]]; then
            [[ $TOOLKIT == ok* ]] || die "cannot compile mmcv's CUDA ops: \
${TOOLKIT#error: }. Or build CPU ops only (minutes, not an hour) with \
MMRLKD_MMCV_OPS=cpu: mmrlkd then runs RoIAlign and NMS on the GPU with \
torchvision's kernels."
            say "$STEP compiling mmcv $MMCV_VERSION with CPU and CUDA ops against torch $TORCH_VER"
            say "    this is the long step: about an hour on a few cores; toolkit ${TOOLKIT#ok: }"
            BUILD_ENV=(FORCE_CUDA=1)
        else
            say "$STEP compiling mmcv $MMCV_VERSION with its CPU ops against torch $TORCH_VER"
            say "    this is the long step: 10-30 minutes on 2 cores"
            # mmcv's setup.py adds CUDA ops whenever torch sees a GPU.
            BUILD_ENV=(FORCE_CUDA=0 CUDA_VISIBLE_DEVICES=)
        fi
        say "    MAX_JOBS=$MAX_JOBS; the wheel is cached in $MMCV_CACHE"
        BUILD=$(mktemp -d)
        trap 'rm -rf "$BUILD"' EXIT
        if [[ -n "$SDIST" ]]; then
            tar -xzf "$SDIST" -C "$BUILD"
        else
            pip_ download -q --no-deps --no-binary mmcv --no-build-isolation \
                -d "$BUILD" "mmcv==$MMCV_VERSION"
            tar -xzf "$BUILD/mmcv-$MMCV_VERSION.tar.gz" -C "$BUILD"
        fi
        SRC="$BUILD/mmcv-$MMCV_VERSION"
        # torch >= 2.14 headers need C++20, mmcv's setup.py forces C++17.
        if "$PY" -c 'import sys, torch; from packaging.version import Version as V; sys.exit(V(torch.__version__.split("+")[0]) < V("2.14"))'; then
            say "    torch >= 2.14: patching mmcv's -std=c++17 to -std=c++20"
            sed -i 's/-std=c++17/-std=c++20/g' "$SRC/setup.py"
        fi
        BUILD_START=$SECONDS
        env "${BUILD_ENV[@]}" MMCV_WITH_OPS=1 "$PY" -m pip \
            --disable-pip-version-check wheel --no-build-isolation --no-deps \
            -w "$BUILD/wheel" "$SRC" > "$BUILD/build.log" 2>&1 ||
            { tail -n 60 "$BUILD/build.log" >&2; die "mmcv build failed (log above)"; }
        mkdir -p "$MMCV_CACHE"
        cp "$BUILD"/wheel/mmcv-*.whl "$MMCV_CACHE.tmp.whl"
        mv "$MMCV_CACHE.tmp.whl" "$MMCV_CACHE/$(basename "$BUILD"/wheel/mmcv-*.whl)"
        say "    mmcv compiled in $((SECONDS - BUILD_START)) s"
    else
        say "$STEP installing cached mmcv wheel ($MMCV_KEY)"
    fi
    pip_ install -q --force-reinstall --no-deps "$MMCV_CACHE"/mmcv-*.whl
    echo "$MMCV_KEY" > "$MMCV_MARK" || true
    mmcv_imports || die "mmcv was installed but 'import mmcv._ext' fails or its \
ops are not the $MMCV_OPS ops of the key $MMCV_KEY"
}

# ---------------------------------------------------------------- mim
# `mim train/test mmrlkd` look for <site-packages>/mmrlkd/.mim/{configs,tools}.
# An editable install has no package folder there: link it to the source
# tree's package, whose .mim links (made by setup.py) lead to configs/,
# tools/ and model-index.yml. Imports find the same files either way.
link_package_for_mim() {
    local site
    site=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    if [[ -L "$site/mmrlkd" || ! -e "$site/mmrlkd" ]]; then
        ln -sfn "$ROOT/mmrlkd" "$site/mmrlkd"
    fi
}

# ---------------------------------------------------------------- offline
# pip, minus the warnings some machines' local package mirrors add to stderr.
pip_() {
    "$PY" -m pip --disable-pip-version-check "$@" \
        2> >(grep -v "^WARNING: Location 'file:" >&2)
}
STEP_TIMES=()
timed() {  # timed NAME COMMAND...: run, remember how long it took
    local name=$1 began=$SECONDS
    shift
    "$@"
    STEP_TIMES+=("$(printf '%-34s %5d s' "$name" "$((SECONDS - began))")")
}
offline_python() {
    local base=${PYTHON:-python3}
    if [[ $NO_VENV == 1 ]]; then
        PY=$(command -v "$base") || die "no $base found"
        say "1/6 using the environment of $PY (--no-venv)"
        return
    fi
    if [[ ! -x "$VENV/bin/python" ]]; then
        say "1/6 creating $VENV over $base (system site packages: its torch)"
        "$base" -m venv --system-site-packages "$VENV"
        # A venv over a venv sees the base interpreter's packages, not the
        # outer venv's: add those (their .pth files included) explicitly.
        "$base" - "$VENV" <<'EOF'
import sys, sysconfig, glob, os
if sys.prefix != sys.base_prefix:
    paths = sorted({sysconfig.get_paths()[k] for k in ('purelib', 'platlib')})
    site = glob.glob(os.path.join(sys.argv[1], 'lib', 'python*',
                                  'site-packages'))[0]
    with open(os.path.join(site, '_mmrlkd_base_env.pth'), 'w') as f:
        f.write(''.join(f'import site; site.addsitedir({p!r})\n'
                        for p in paths))
EOF
    else
        say "1/6 reusing $VENV"
    fi
    PY="$VENV/bin/python"
}
offline_check() {
    local found
    found=$("$PY" -c 'import sys, torch; print("Python %d.%d, torch %s, CUDA %s, GPUs visible: %d" % (*sys.version_info[:2], torch.__version__, torch.version.cuda, torch.cuda.device_count()))' 2>/dev/null) ||
        die "$PY has no torch: --offline uses the torch already installed"
    say "    $found"
    # Every requirement met by the wheelhouse or what is installed (torch's
    # lower bound included), the checksums right, the wheels for this Python.
    "$PY" "$HELPER" verify "$DIR" --installed
}
offline_install() {
    local plan files=()
    plan=$("$PY" "$HELPER" plan "$DIR" --exclude mmcv) ||
        die "cannot plan the install from $DIR (see above)"
    [[ -z "$plan" ]] || mapfile -t files <<< "$plan"
    if [[ ${#files[@]} -gt 0 ]]; then
        say "    ${#files[@]} wheels: $(printf '%s ' "${files[@]##*/}")"
        pip_ install -q --no-index --no-deps "${files[@]}"
    else
        say "    nothing to install: the environment has every package"
    fi
}
offline_mmrlkd() {
    pip_ install -q --no-index --no-build-isolation --no-deps -e "$ROOT"
    link_package_for_mim
    # Every requirement of the wheelhouse's packages met by what is
    # installed now, nothing fetched.
    "$PY" "$HELPER" verify "$DIR" --installed --after-install
    "$PY" -c 'import mmrlkd; print(mmrlkd.compat.environment_summary())'
}
if [[ $MODE == offline ]]; then
    say "offline set-up from $DIR (no package index; mmcv ops: $MMRLKD_MMCV_OPS)"
    timed "1/6 Python environment" offline_python
    timed "2/6 check torch and the wheelhouse" offline_check
    say "3/6 installing what the environment lacks from $DIR"
    timed "3/6 install from the wheelhouse" offline_install
    timed "4/6 mmcv with compiled ops" install_mmcv "4/6" \
        "$DIR/mmcv-$MMCV_VERSION.tar.gz"
    say "5/6 installing mmrlkd in editable mode; 6/6 checking"
    timed "5-6/6 mmrlkd, checks" offline_mmrlkd
    say "step times:"
    printf '    %s\n' "${STEP_TIMES[@]}"
    say "done in $((SECONDS - START)) s${VENV:+; Python: $PY}"
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

# ---------------------------------------------------------------- 2. torch
say "2/6 installing $TORCH_SPEC and build tools ($SETUPTOOLS_SPEC, wheel, ninja)"
# shellcheck disable=SC2086
pip_ install -q ${TORCH_PIP_ARGS[@]+"${TORCH_PIP_ARGS[@]}"} $TORCH_SPEC \
    "$SETUPTOOLS_SPEC" wheel ninja
TORCH_VER=$("$PY" -c 'import torch; print(torch.__version__)')
CUDA_STATE=$("$PY" -c 'import torch; print("CUDA %s, GPU visible: %s" % (torch.version.cuda, torch.cuda.is_available()))')
say "    torch $TORCH_VER ($CUDA_STATE)"
# Later pip calls must keep this torch build, whatever their indexes offer.
KEEP_TORCH="$VENV/.mmrlkd-keep-torch.txt"
"$PY" -c 'from importlib.metadata import version
for name in ("torch", "torchvision"): print(name + "==" + version(name))' \
    > "$KEEP_TORCH"
pip_keep_torch_() {
    pip_ install -q -c "$KEEP_TORCH" \
        ${OTHER_PIP_ARGS[@]+"${OTHER_PIP_ARGS[@]}"} "$@"
}

# ---------------------------------------------------------------- 3. mmengine
say "3/6 installing mmengine 0.10.7 and mmcv's pure-Python dependencies"
pip_keep_torch_ mmengine==0.10.7 addict packaging Pillow pyyaml yapf \
    opencv-python

install_mmcv "4/6"

# ---------------------------------------------------------------- 5. OpenMMLab
say "5/6 installing mmdet 3.3.0, mmpretrain 1.2.0, mmrazor 1.0.0 and the rest"
# shellcheck disable=SC2086
pip_keep_torch_ -r "$ROOT/requirements/mminstall.txt" \
    -r "$ROOT/requirements.txt" "$SETUPTOOLS_SPEC" $TORCH_SPEC

# ---------------------------------------------------------------- 6. mmrlkd
say "6/6 installing mmrlkd in editable mode"
pip_ install -q --no-build-isolation --no-deps -e "$ROOT"
link_package_for_mim
"$PY" -c 'import mmrlkd; print(mmrlkd.compat.environment_summary())'
STAMP="$(stamp_of)"
echo "$STAMP" > "$STAMP_FILE"
say "done in $((SECONDS - START)) s; activate with: source $VENV/bin/activate"

#!/usr/bin/env bash
# Sourced by torchrun_launch.sh and slurm_launch.sh: the interpreter, a free
# master port and the dry-run mode they share.
#   PYTHON          interpreter (default: $MMRLKD_VENV/bin/python, else the
#                   repository's .venv/bin/python, else python)
#   PORT            master port (default: a random free port, chosen anew by
#                   every launch, so two jobs on one node do not collide)
#   MMRLKD_DRY_RUN  1: print the command (shell-quoted) instead of running it

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

launch_python() {
    if [[ -n "${PYTHON:-}" ]]; then
        echo "$PYTHON"
    elif [[ -n "${MMRLKD_VENV:-}" && -x "$MMRLKD_VENV/bin/python" ]]; then
        echo "$MMRLKD_VENV/bin/python"
    elif [[ -x "$ROOT/.venv/bin/python" ]]; then
        echo "$ROOT/.venv/bin/python"
    else
        echo python
    fi
}

# free_port PYTHON: a port nothing listens on now, drawn at random by the
# kernel (asked through PYTHON, else python3).
free_port() {
    local py port
    for py in "$1" python3; do
        port=$("$py" -c 'import socket
s = socket.socket()
s.bind(("", 0))
print(s.getsockname()[1])' 2> /dev/null) || continue
        if [[ "$port" =~ ^[0-9]+$ ]]; then
            echo "$port"
            return 0
        fi
    done
    echo "$0: found no Python to pick a free port; set PORT" >&2
    return 1
}

# run_or_print CMD...: exec CMD, or print it under MMRLKD_DRY_RUN=1.
run_or_print() {
    if [[ "${MMRLKD_DRY_RUN:-0}" == 1 ]]; then
        printf '%q ' "$@"
        printf '\n'
        exit 0
    fi
    exec "$@"
}

# Sourced by the scripts: make (once) and enter the project's virtualenv in .venv, installing the project.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
stamp=".venv/.installed-$(cat setup.cfg pyproject.toml | cksum | cut -d' ' -f1)-${1:-run}"
if [ ! -f "$stamp" ]; then
  python -m pip install -q --upgrade pip >/dev/null
  if [ "${1:-run}" = dev ]; then python -m pip install -q -e '.[dev]'; else python -m pip install -q -e .; fi
  touch "$stamp"
fi

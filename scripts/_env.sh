# Sourced by the scripts: find or install uv, and never let it download an interpreter.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export UV_PYTHON_DOWNLOADS=never
if command -v uv >/dev/null 2>&1; then
  UV=(uv)
else
  if ! python3 -m uv --version >/dev/null 2>&1; then
    echo "installing uv (the project's installer) with pip ..." >&2
    python3 -m pip install --quiet --disable-pip-version-check "uv>=0.5,<1"
  fi
  UV=(python3 -m uv)
fi

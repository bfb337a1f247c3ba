#!/usr/bin/env bash
# Heavy checks kept out of CI's default run (full-size granules, fresh-venv installs, long runs).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTEST=${PYTEST:-.venv/bin/pytest}
"$PYTEST" -q -m slow "$@"

#!/usr/bin/env bash
# Writes web/openapi.json from the server's FastAPI app (repo venv: `make setup`), then `npm run gen:api`.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
root="$(cd "$here/.." && pwd)"
tmp="$(mktemp -d)"
cd "$tmp"  # the app creates its data directory in the working directory
ECLUSE_DATA_DIR="$tmp/data" "$root/.venv/bin/python" -c "
import json, sys
from ecluse.api.app import create_app
json.dump(create_app().openapi(), open(sys.argv[1], 'w'), indent=1)
" "$here/openapi.json"
rm -rf "$tmp"
echo "wrote $here/openapi.json"

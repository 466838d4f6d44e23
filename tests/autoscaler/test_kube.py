"""The real ``kubernetes`` client in ``KubeScaleClient``, on the wire: which requests it sends (against
the scale-subresource stand-in of ``conftest.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cellkiosk.autoscaler.kube import KubeScaleClient, ScaleError
from cellkiosk.core.embedded import free_port
from tests.autoscaler.conftest import PATH, ScaleServer, kubeconfig


def test_get_and_patch_the_scale_subresource(server: ScaleServer, tmp_path: Path) -> None:
    client = KubeScaleClient("lab", kubeconfig(tmp_path, server.server_address[1]))
    assert client.get_replicas("cellkiosk-tfserving") == 0
    client.set_replicas("cellkiosk-tfserving", 3)
    assert client.get_replicas("cellkiosk-tfserving") == 3
    verbs = [(verb, path.split("?")[0]) for verb, path, _, _ in server.requests]
    assert verbs == [("GET", PATH.format("cellkiosk-tfserving")), ("PATCH", PATH.format("cellkiosk-tfserving"))] + [
        ("GET", PATH.format("cellkiosk-tfserving"))
    ]
    _, _, content_type, body = server.requests[1]
    assert body == {"spec": {"replicas": 3}}
    assert "patch" in content_type  # a patch of the scale only, never a PUT of the whole Deployment


def test_errors_name_the_deployment(server: ScaleServer, tmp_path: Path) -> None:
    client = KubeScaleClient("lab", kubeconfig(tmp_path, server.server_address[1]))
    with pytest.raises(ScaleError, match="get scale of deployment lab/other: Not Found"):
        client.get_replicas("other")


def test_an_unreachable_api_server_is_a_scale_error(tmp_path: Path) -> None:
    client = KubeScaleClient(None, kubeconfig(tmp_path, free_port()))
    assert client.namespace == "lab"  # the kubeconfig context's, when none is given
    client.apps.api_client.configuration.retries = 0
    with pytest.raises(ScaleError, match="patch scale of deployment lab/cellkiosk-tfserving"):
        client.set_replicas("cellkiosk-tfserving", 1)

"""The only Kubernetes I/O of cellkiosk: read and patch a Deployment's scale subresource.

Kept this small on purpose: no kube-apiserver can run where the tests run, so this module is
the untested-against-a-real-server part, and everything else (the policy, the loop, the Redis
side) is tested without it. The chart's Role grants exactly ``get`` and ``patch`` on
``deployments/scale`` of the release's own Deployments.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol


class ScaleError(Exception):
    """The API server could not be asked, or refused (its message says which Deployment and why)."""


class ScaleClient(Protocol):
    """What the control loop needs from Kubernetes."""

    def get_replicas(self, deployment: str) -> int:
        """The Deployment's ``spec.replicas``."""
        ...

    def set_replicas(self, deployment: str, replicas: int) -> None:
        """Patch the Deployment's ``spec.replicas``."""
        ...


class KubeScaleClient:
    """The scale subresource through the official ``kubernetes`` client."""

    def __init__(self, namespace: str | None, kubeconfig: Path | None = None) -> None:
        from kubernetes import client, config  # imported here: only the autoscaler needs it
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        self._errors: tuple[type[BaseException], ...] = (ApiException, HTTPError, OSError)
        if kubeconfig is not None:
            config.load_kube_config(config_file=str(kubeconfig))
            _, context = config.list_kube_config_contexts(config_file=str(kubeconfig))
            namespace = namespace or context.get("context", {}).get("namespace") or "default"
        else:
            config.load_incluster_config()
        self.namespace = namespace or _own_namespace()
        self.apps = client.AppsV1Api()

    def get_replicas(self, deployment: str) -> int:
        """The Deployment's ``spec.replicas`` (GET .../deployments/NAME/scale)."""
        read = self.apps.read_namespaced_deployment_scale
        scale: Any = self._call("get", deployment, read, deployment, self.namespace)
        return int(scale.spec.replicas or 0)

    def set_replicas(self, deployment: str, replicas: int) -> None:
        """PATCH .../deployments/NAME/scale with ``spec.replicas``."""
        body = {"spec": {"replicas": replicas}}
        self._call("patch", deployment, self.apps.patch_namespaced_deployment_scale, deployment, self.namespace, body)

    def _call(self, verb: str, deployment: str, method: Any, *args: Any) -> Any:
        try:
            return method(*args)
        except self._errors as exc:
            reason = getattr(exc, "reason", None) or exc.__class__.__name__
            raise ScaleError(f"{verb} scale of deployment {self.namespace}/{deployment}: {reason}") from exc


def _own_namespace() -> str:
    """The pod's namespace, from its service account."""
    path = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
    return path.read_text().strip() if path.exists() else "default"

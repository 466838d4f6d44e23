"""Fixtures of the autoscaler's tests: one database of the session's valkey, and a stand-in for the API
server's scale subresource (no kube-apiserver can run here).

A small HTTP server on 127.0.0.1 answers the two calls the autoscaler makes (GET and PATCH
``/apis/apps/v1/namespaces/NS/deployments/NAME/scale``) and records them, so the tests check the real
``kubernetes`` client's paths, verbs, patch body and error handling (not the API server).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import redis

from cellkiosk.core.embedded import EmbeddedValkey, free_port
from cellkiosk.core.queue import connect_redis
from tests.fixtures.platform import fresh_redis_url


@pytest.fixture(scope="session")
def autoscaler_redis_url(valkey: EmbeddedValkey) -> str:
    """One logical database of the session's valkey for every autoscaler test (there are only 15 to share)."""
    return fresh_redis_url(valkey)


@pytest.fixture
def client(autoscaler_redis_url: str) -> Iterator[redis.Redis]:
    """A client on that database, emptied."""
    connection = connect_redis(autoscaler_redis_url, socket_timeout_s=5)
    connection.flushdb()
    yield connection
    connection.close()


PATH = "/apis/apps/v1/namespaces/lab/deployments/{}/scale"


class ScaleServer(ThreadingHTTPServer):
    replicas: dict[str, int]
    requests: list[tuple[str, str, str, object]]


class Handler(BaseHTTPRequestHandler):
    server: ScaleServer

    def log_message(self, *args: object) -> None:
        pass

    def _name(self) -> str | None:
        for name in self.server.replicas:
            if self.path.split("?")[0] == PATH.format(name):
                return name
        return None

    def _reply(self, name: str | None) -> None:
        if name is None:
            body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404}
            self.send_response(404)
        else:
            body = {
                "kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {"name": name, "namespace": "lab"},
                "spec": {"replicas": self.server.replicas[name]}, "status": {"replicas": self.server.replicas[name]},
            }  # fmt: skip
            self.send_response(200)
        data = json.dumps(body).encode()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.server.requests.append(("GET", self.path, "", None))
        self._reply(self._name())

    def do_PATCH(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(("PATCH", self.path, self.headers["Content-Type"], body))
        name = self._name()
        if name is not None:
            self.server.replicas[name] = int(body["spec"]["replicas"])
        self._reply(name)


def kubeconfig(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(
        json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "t",
            "clusters": [{"name": "t", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
            "contexts": [{"name": "t", "context": {"cluster": "t", "user": "u", "namespace": "lab"}}],
            "users": [{"name": "u", "user": {"token": "test-token"}}],
        })
    )  # fmt: skip
    return path


@pytest.fixture
def server() -> Iterator[ScaleServer]:
    srv = ScaleServer(("127.0.0.1", free_port()), Handler)
    srv.replicas, srv.requests = {"cellkiosk-tfserving": 0}, []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()

"""Retries and errors of the client's HTTP layer, against real servers on real sockets."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cellkiosk.client import ApiError, Client, ServerUnreachable
from cellkiosk.client.http import Http
from cellkiosk.core.embedded import free_port
from tests.fixtures.platform import Platform


class Busy(BaseHTTPRequestHandler):
    """Answers the first requests of a path with a scripted status, then 200."""

    script: dict[str, list[tuple[int, dict[str, str], bytes]]] = {}
    seen: list[tuple[str, float]] = []

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        Busy.seen.append((self.path, time.monotonic()))
        queue = Busy.script.get(self.path, [])
        status, headers, body = queue.pop(0) if queue else (200, {}, b'{"ok": true}')
        self.send_response(status)
        for key, value in {"Content-Type": "application/json", **headers}.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def busy_server() -> Iterator[str]:
    Busy.script, Busy.seen = {}, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Busy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_closed_port_fails_after_the_retries_with_a_clear_message() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    client = Client(url, retries=2, backoff_s=0.01)
    started = time.monotonic()
    with pytest.raises(ServerUnreachable) as info:
        client.models()
    assert time.monotonic() - started < 5
    message = str(info.value)
    assert url in message and "after 3 attempt(s)" in message and "ConnectError" in message
    assert isinstance(info.value, ConnectionError)


@pytest.mark.slow
def test_429_and_503_are_retried_honouring_retry_after(busy_server: str) -> None:
    Busy.script["/api/models"] = [
        (429, {"Retry-After": "1"}, b'{"detail": "slow down"}'),
        (503, {}, b"<html>no healthy upstream</html>"),  # a proxy's 503: retried with backoff
    ]
    http = Http(busy_server, retries=3, backoff_s=0.01)
    assert http.json("GET", "/api/models") == {"ok": True}
    times = [t for path, t in Busy.seen if path == "/api/models"]
    assert len(times) == 3
    assert times[1] - times[0] >= 0.95  # waited what Retry-After asked


def test_retries_give_up_naming_the_last_answer(busy_server: str) -> None:
    Busy.script["/x"] = [(503, {"Retry-After": "0"}, b'{"detail": "draining"}')] * 3
    with pytest.raises(ServerUnreachable, match="after 3 attempt.*503 draining"):
        Http(busy_server, retries=2, backoff_s=0.01).json("GET", "/x")


def test_the_gateways_own_503_is_not_retried(busy_server: str) -> None:
    Busy.script["/api/jobs"] = [(503, {}, b'{"detail": "no model for \'x\' is installed on this server"}')]
    with pytest.raises(ApiError, match="no model for 'x' is installed") as info:
        Http(busy_server, retries=3, backoff_s=0.01).json("GET", "/api/jobs")
    assert info.value.status_code == 503 and len(Busy.seen) == 1


def test_4xx_detail_is_surfaced(platform: Platform) -> None:
    client = Client(platform.url, retries=0)
    with pytest.raises(ApiError) as info:
        client.create_job("not-an-upload/x.png")
    assert info.value.status_code == 400
    assert "is not an upload key" in info.value.detail and "400" in str(info.value)
    with pytest.raises(ApiError, match="404.*no job 'nope'"):
        client.status("nope")
    with pytest.raises(ApiError, match="unknown job type 'painting'"):
        client.create_job("uploads/x/y.png", job_type="painting")


def test_validation_errors_are_flattened_to_one_line(platform: Platform) -> None:
    with pytest.raises(ApiError, match="give either 'input'") as info:
        Client(platform.url).http.json("POST", "/api/jobs", json={"type": "segmentation"})
    assert info.value.status_code == 422 and "\n" not in info.value.detail


def test_api_key_is_sent_and_its_absence_explained(make_platform) -> None:
    gateway = make_platform(workers=0, api_keys=["s3cret"])
    with pytest.raises(ApiError, match="401.*requires an API key"):
        Client(gateway.url).models()
    assert Client(gateway.url, api_key="s3cret").models()[0]["name"] == "nuclear"

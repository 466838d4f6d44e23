"""Job creation survives a lost response: the client retries with its Idempotency-Key and gets one job.

A real TCP proxy in front of the real gateway forwards the first POST /api/jobs, lets the gateway
create the job, then drops the connection without passing the answer on (as a timeout or a dying
load balancer would). The client's retry must come back with that job, not create a second one.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from cellkiosk.client import Client
from tests.fixtures.platform import Platform
from tests.integration.conftest import VAL_SMALL, val_png


def read_request(conn: socket.socket) -> bytes:
    """One HTTP request (head and Content-Length body) from a client socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    fields = (line.partition(b":") for line in head.split(b"\r\n")[1:])
    length = next((int(value) for name, _, value in fields if name.strip().lower() == b"content-length"), 0)
    while len(body) < length:
        body += conn.recv(65536)
    return head + b"\r\n\r\n" + body


class DroppingProxy:
    """Pipes connections to ``upstream``; the first ``POST /api/jobs`` reaches it but its answer is dropped."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.dropped = 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

    def handle(self, conn: socket.socket) -> None:
        with conn, socket.create_connection(self.upstream) as up:
            while request := read_request(conn):
                up.sendall(request)
                if request.startswith(b"POST /api/jobs ") and not self.dropped:
                    self.dropped += 1
                    time.sleep(1.0)  # the gateway creates the job meanwhile
                    return  # close without answering
                conn.sendall(self.response(up))

    @staticmethod
    def response(up: socket.socket) -> bytes:
        return read_request(up)  # a response has the same framing (head + Content-Length body)


@pytest.fixture
def proxy(platform: Platform) -> Iterator[DroppingProxy]:
    url = urlsplit(str(platform.http.base_url))
    proxy = DroppingProxy((url.hostname or "127.0.0.1", url.port or 80))
    yield proxy
    proxy.server.close()


def test_a_lost_answer_to_job_creation_is_retried_into_the_same_job(platform: Platform, proxy: DroppingProxy) -> None:
    client = Client(f"http://127.0.0.1:{proxy.port}", retries=3, backoff_s=0.05)
    key = platform.upload(val_png(VAL_SMALL))

    def created() -> int:
        return int(platform.queue.redis.hget("stats:jobs", "segmentation|created") or 0)

    before = created()
    job_id = client.create_job(key)
    assert proxy.dropped == 1  # the first answer really was lost
    assert created() == before + 1  # and the retry did not make a second job
    assert platform.http.get(f"/api/jobs/{job_id}").json()["id"] == job_id

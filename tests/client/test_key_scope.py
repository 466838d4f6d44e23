"""The client sends X-API-Key to the gateway only: never to a presigned URL or along a redirect elsewhere."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cellkiosk.client.http import Http


class Recorder(BaseHTTPRequestHandler):
    """Answers 200 and remembers each request's headers; ``/redirect`` answers 307 to ``target``."""

    seen: list[dict[str, str]]
    target = ""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.seen.append(dict(self.headers))
        if self.path.startswith("/redirect"):
            self.send_response(307)
            self.send_header("Location", self.target)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b"object bytes"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_PUT = do_GET  # noqa: N815

    def log_message(self, *args: object) -> None:
        pass


def serve(seen: list[dict[str, str]]) -> tuple[ThreadingHTTPServer, str]:
    handler = type("H", (Recorder,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def two_origins() -> Iterator[tuple[str, str, list[dict[str, str]], list[dict[str, str]]]]:
    gateway_seen: list[dict[str, str]] = []
    store_seen: list[dict[str, str]] = []
    gateway, gateway_url = serve(gateway_seen)
    store, store_url = serve(store_seen)
    gateway.RequestHandlerClass.target = f"{store_url}/bucket/result.zip?X-Amz-Signature=abc"  # type: ignore[attr-defined]
    yield gateway_url, store_url, gateway_seen, store_seen
    gateway.shutdown()
    store.shutdown()


def test_key_reaches_the_gateway_but_not_a_redirect_target(two_origins, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    gateway_url, _, gateway_seen, store_seen = two_origins
    http = Http(gateway_url, api_key="very-secret")
    http.download("/redirect", tmp_path / "r.zip")
    assert (tmp_path / "r.zip").read_bytes() == b"object bytes"
    assert gateway_seen[0]["X-API-Key"] == "very-secret"
    assert len(store_seen) == 1 and "X-API-Key" not in store_seen[0]
    http.request("GET", "/redirect")  # a plain request following the 307 as well
    assert "X-API-Key" not in store_seen[1]


def test_key_is_not_sent_to_a_presigned_url(two_origins) -> None:  # type: ignore[no-untyped-def]
    _, store_url, _, store_seen = two_origins
    http = Http("http://127.0.0.1:1", api_key="very-secret")  # the gateway itself is not needed here
    http.request("PUT", f"{store_url}/bucket/upload?X-Amz-Signature=abc", content=b"data")
    assert "X-API-Key" not in store_seen[0]

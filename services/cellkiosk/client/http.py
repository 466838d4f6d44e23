"""A small HTTP layer for the client: retries with backoff, errors that carry the server's words."""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import httpx

RETRY_STATUSES = frozenset({429, 502, 503, 504})
TRANSIENT_ERRORS = (httpx.TransportError,)  # connect errors, timeouts, dropped connections
# A POST that may have reached the server is not repeated (it could create a second job), unless it
# carries an Idempotency-Key (job creation does).
UNSENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


class ClientError(Exception):
    """Base class of the client's errors."""


class ServerUnreachable(ClientError, ConnectionError):
    """The server did not answer (or kept answering 429/503) after every retry."""


class ApiError(ClientError):
    """The server refused a request (4xx, or 5xx after the retries); ``detail`` is its explanation."""

    def __init__(self, status_code: int, detail: str, method: str, url: str) -> None:
        self.status_code = status_code
        self.detail = detail
        self.method = method
        self.url = url
        super().__init__(f"{method} {url} -> {status_code}: {detail}")


def error_detail(resp: httpx.Response) -> str:
    """The ``detail`` of a FastAPI error body, flattened to one readable line."""
    try:
        body = resp.json()
    except ValueError:
        return resp.text.strip()[:500] or resp.reason_phrase
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, list):  # pydantic validation errors
        parts = []
        for item in detail:
            where = ".".join(str(p) for p in item.get("loc", [])[1:]) if isinstance(item, dict) else ""
            msg = item.get("msg", item) if isinstance(item, dict) else item
            parts.append(f"{where}: {msg}" if where else str(msg))
        return "; ".join(parts)
    return str(detail)


def should_retry(resp: httpx.Response) -> bool:
    """429/502/504 always; 503 unless it is the gateway's own answer (JSON ``detail``, no ``Retry-After``).

    The gateway answers 503 "no model for 'x' is installed", which no retry fixes; a proxy or
    load balancer without a healthy backend answers 503 without a JSON body.
    """
    if resp.status_code != 503:
        return resp.status_code in RETRY_STATUSES
    if "retry-after" in resp.headers:
        return True
    try:
        body = resp.json()
    except ValueError:
        return True
    return not (isinstance(body, dict) and "detail" in body)


def retry_after_s(resp: httpx.Response) -> float | None:
    """Seconds the server asked us to wait (``Retry-After`` as seconds or an HTTP date)."""
    value = resp.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class KeyForOrigin:
    """Request hook: the API key goes to the gateway's origin only, never to presigned or redirected URLs.

    httpx runs request hooks on every hop of a redirect, so a 307 from the gateway to the object store
    arrives there without the key (httpx itself only strips ``Authorization`` across origins).
    """

    def __init__(self, base_url: str, api_key: str | None) -> None:
        self.origin = httpx.URL(base_url)
        self.api_key = api_key

    def __call__(self, request: httpx.Request) -> None:
        url = request.url
        same = (url.scheme, url.host, url.port) == (self.origin.scheme, self.origin.host, self.origin.port)
        if self.api_key and same:
            request.headers["X-API-Key"] = self.api_key
        else:
            request.headers.pop("X-API-Key", None)


class Http:
    """An ``httpx.Client`` that retries transient failures and raises :class:`ApiError` for refusals.

    Retried: connection errors, timeouts, dropped connections and 429/502/503/504 (waiting what
    ``Retry-After`` says, else exponential backoff with jitter). Not retried: other 4xx/5xx.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        retries: int = 5,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.client = httpx.Client(
            base_url=self.base_url,
            timeout=timeout_s,
            follow_redirects=True,
            event_hooks={"request": [KeyForOrigin(self.base_url, api_key)]},
        )

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()

    def _wait_s(self, attempt: int, resp: httpx.Response | None) -> float:
        asked = retry_after_s(resp) if resp is not None else None
        if asked is not None:
            return min(asked, self.max_backoff_s * 4)
        return min(self.max_backoff_s, self.backoff_s * 2**attempt) * random.uniform(0.5, 1.0)

    def request(
        self,
        method: str,
        url: str,
        *,
        open_body: Callable[[], IO[bytes]] | None = None,
        idempotent: bool = False,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send a request with retries; ``open_body`` reopens a streamed body for each attempt.

        A POST is repeated after a timeout or a dropped connection only when ``idempotent`` (it carries
        an ``Idempotency-Key``, so the server answers a repeat with the first request's result).
        """
        retryable = TRANSIENT_ERRORS if idempotent or method.upper() in IDEMPOTENT else UNSENT_ERRORS
        last: str = ""
        for attempt in range(self.retries + 1):
            resp = None
            try:
                if open_body is not None:
                    with open_body() as body:
                        resp = self.client.request(method, url, content=body, **kwargs)
                else:
                    resp = self.client.request(method, url, **kwargs)
            except retryable as exc:
                last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            else:
                if not should_retry(resp):
                    return self._checked(resp, method)
                last = f"{resp.status_code} {error_detail(resp)}"
            if attempt < self.retries:
                time.sleep(self._wait_s(attempt, resp))
        raise ServerUnreachable(
            f"{method} {self._full(url)} failed after {self.retries + 1} attempt(s): {last}; "
            "is the server running and is the URL right?"
        )

    def _full(self, url: str) -> str:
        return url if url.startswith(("http://", "https://")) else f"{self.base_url}{url}"

    @staticmethod
    def _checked(resp: httpx.Response, method: str) -> httpx.Response:
        if resp.is_success:
            return resp
        raise ApiError(resp.status_code, error_detail(resp), method, str(resp.request.url))

    def json(self, method: str, url: str, **kwargs: Any) -> Any:
        """Send a request and return its JSON body."""
        return self.request(method, url, **kwargs).json()

    def download(self, url: str, dest: Path) -> Path:
        """Stream a (possibly redirected) download to ``dest`` atomically, retrying whole attempts."""
        tmp = dest.with_name(dest.name + ".part")
        last = ""
        for attempt in range(self.retries + 1):
            resp = None
            try:
                with self.client.stream("GET", url) as resp:
                    if resp.is_success:
                        with tmp.open("wb") as fh:
                            for chunk in resp.iter_bytes(1 << 20):
                                fh.write(chunk)
                        tmp.replace(dest)
                        return dest
                    resp.read()
                    if not should_retry(resp):
                        raise ApiError(resp.status_code, error_detail(resp), "GET", str(resp.request.url))
                    last = f"{resp.status_code} {error_detail(resp)}"
            except TRANSIENT_ERRORS as exc:
                last = f"{type(exc).__name__}: {exc}"
            if attempt < self.retries:
                time.sleep(self._wait_s(attempt, resp))
        tmp.unlink(missing_ok=True)
        raise ServerUnreachable(f"GET {self._full(url)} failed after {self.retries + 1} attempt(s): {last}")

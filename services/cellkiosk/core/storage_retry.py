"""Storage that waits out an outage: every call is retried with backoff while the backend is unreachable.

Consumers use it so that a job running while the object store restarts
completes when it returns, instead of failing or starting over. Errors that a
retry cannot fix (no such key, too large, storage full, a bad key) pass at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import BinaryIO, TypeVar

from tenacity import Retrying, before_sleep_log, retry_if_exception, stop_after_delay, wait_exponential

from cellkiosk.core.storage import KeyNotFoundError, ObjectTooLargeError, Storage, StorageError, StorageFullError

log = logging.getLogger(__name__)
T = TypeVar("T")
FINAL_ERRORS = (KeyNotFoundError, ObjectTooLargeError, StorageFullError)


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, StorageError) and not isinstance(exc, FINAL_ERRORS)


class RetryingStorage(Storage):
    """Wraps a :class:`Storage`, retrying transient failures for up to ``give_up_s`` per call."""

    def __init__(self, inner: Storage, give_up_s: float, max_wait_s: float = 5.0) -> None:
        self.inner = inner
        self.url = inner.url
        self.give_up_s = give_up_s
        self.max_wait_s = max_wait_s

    def _call(self, fn: Callable[[], T]) -> T:
        retrying = Retrying(
            retry=retry_if_exception(_retryable),
            stop=stop_after_delay(self.give_up_s),
            wait=wait_exponential(multiplier=0.25, max=self.max_wait_s),
            before_sleep=before_sleep_log(log, logging.WARNING),
            reraise=True,
        )
        return retrying(fn)

    def put_stream(self, key: str, fh: BinaryIO, content_type: str | None = None, max_bytes: int | None = None) -> int:
        """Store a stream; retried only when the stream can be rewound."""
        if not fh.seekable():
            return self.inner.put_stream(key, fh, content_type, max_bytes)
        start = fh.tell()

        def attempt() -> int:
            fh.seek(start)
            return self.inner.put_stream(key, fh, content_type, max_bytes)

        return self._call(attempt)

    def open_read(self, key: str) -> AbstractContextManager[BinaryIO]:
        """Open an object for reading (the opening is retried, not a read midway)."""

        @contextmanager
        def opened() -> Iterator[BinaryIO]:
            cm = self._call(lambda: _entered(self.inner.open_read(key)))
            try:
                yield cm[1]
            finally:
                cm[0].__exit__(None, None, None)

        return opened()

    def exists(self, key: str) -> bool:
        """Whether an object exists."""
        return self._call(lambda: self.inner.exists(key))

    def size(self, key: str) -> int:
        """Size of an object in bytes."""
        return self._call(lambda: self.inner.size(key))

    def list(self, prefix: str) -> list[str]:
        """Keys under a prefix."""
        return self._call(lambda: self.inner.list(prefix))

    def delete(self, key: str) -> None:
        """Delete an object."""
        self._call(lambda: self.inner.delete(key))

    def presign_get(self, key: str, expires_s: int, filename: str | None = None) -> str | None:
        """A presigned download URL (no network call)."""
        return self.inner.presign_get(key, expires_s, filename)

    def presign_put(self, key: str, expires_s: int, content_type: str | None = None) -> str | None:
        """A presigned upload URL (no network call)."""
        return self.inner.presign_put(key, expires_s, content_type)

    def check(self) -> None:
        """Raise StorageError when the backend is unreachable (not retried: a health check)."""
        self.inner.check()

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        """Store bytes."""
        self._call(lambda: self.inner.put_bytes(key, data, content_type))

    def download_file(self, key: str, path: Path) -> None:
        """Download an object to a local file, retried as a whole."""
        self._call(lambda: self.inner.download_file(key, path))

    def delete_prefix(self, prefix: str) -> int:
        """Delete every key under a prefix."""
        return self._call(lambda: self.inner.delete_prefix(prefix))


def _entered(cm: AbstractContextManager[BinaryIO]) -> tuple[AbstractContextManager[BinaryIO], BinaryIO]:
    return cm, cm.__enter__()

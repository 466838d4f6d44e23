"""Object storage: one interface, a local-directory backend and an S3 backend.

Keys are relative POSIX paths ("jobs/42/input.tif"). Both backends treat a
list/delete prefix as a plain string prefix, as S3 does: pass "jobs/42/" (with
the slash) to mean one job's objects and not also "jobs/420/...".
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path, PurePosixPath
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

from cellkiosk.core.errors import CellkioskError
from cellkiosk.core.settings import CommonSettings

MAX_KEY_BYTES = 1024  # S3's limit, applied to both backends so keys move freely between them
MAX_SEGMENT_BYTES = 255  # NAME_MAX of common filesystems
CHUNK_BYTES = 1024 * 1024

# Control characters, unpaired surrogates and line/paragraph separators: never part of a file name.
_BAD_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})


class StorageError(CellkioskError):
    """The storage backend failed or cannot be reached."""


class StorageFullError(StorageError):
    """The storage has no space left (or the quota is used up): retrying will not help until someone frees space."""


class KeyNotFoundError(StorageError):
    """No object is stored under the key."""


class ObjectTooLargeError(StorageError):
    """A streamed upload exceeded its byte limit; nothing was stored."""


class InvalidKeyError(ValueError):
    """The key is not a safe relative path (empty, absolute, '..', control characters, ...)."""


def validate_key(key: str) -> str:
    """Return the key unchanged if it is a safe relative POSIX path, else raise InvalidKeyError."""
    if not isinstance(key, str) or not key:
        raise InvalidKeyError("storage key must be a non-empty string")
    try:
        encoded = key.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidKeyError(f"storage key is not valid UTF-8: {key!r}") from None
    if len(encoded) > MAX_KEY_BYTES:
        raise InvalidKeyError(f"storage key is longer than {MAX_KEY_BYTES} bytes: {key[:40]!r}...")
    if "\\" in key:
        raise InvalidKeyError(f"storage key must use '/' and not contain a backslash: {key!r}")
    if any(unicodedata.category(ch) in _BAD_CATEGORIES for ch in key):
        raise InvalidKeyError(f"storage key contains control characters: {key!r}")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidKeyError(f"storage key must be relative, without empty, '.' or '..' parts: {key!r}")
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise InvalidKeyError(f"a part of the storage key is longer than {MAX_SEGMENT_BYTES} bytes: {key!r}")
    return key


def validate_prefix(prefix: str) -> str:
    """Return the prefix if it is "" or a valid key, optionally ending in '/', else raise InvalidKeyError."""
    if prefix:
        validate_key(prefix.removesuffix("/"))
    return prefix


class Storage(ABC):
    """Where job inputs, results and models live; see the module docstring for key rules."""

    url: str

    @abstractmethod
    def put_stream(self, key: str, fh: BinaryIO, content_type: str | None = None, max_bytes: int | None = None) -> int:
        """Store what `fh` yields, chunk by chunk; return the byte count; over `max_bytes` store nothing."""

    @abstractmethod
    def open_read(self, key: str) -> AbstractContextManager[BinaryIO]:
        """Open the object for streaming reads (not necessarily seekable)."""

    def open_seekable(self, key: str) -> AbstractContextManager[BinaryIO]:
        """Open the object for random access (seek, read): where the backend can, a read fetches only the
        bytes it asks for (one page of a TIFF, one member of a zip). This default copies the whole object
        to a temporary file first."""
        return self._downloaded(key)

    @contextmanager
    def _downloaded(self, key: str) -> Iterator[BinaryIO]:
        with tempfile.TemporaryDirectory(prefix="cellkiosk-object-") as tmp:
            local = Path(tmp) / "object"
            self.download_file(key, local)
            with local.open("rb") as fh:
                yield fh

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether an object is stored under the key."""

    @abstractmethod
    def size(self, key: str) -> int:
        """The object's size in bytes."""

    @abstractmethod
    def list(self, prefix: str) -> list[str]:
        """All keys that start with `prefix`, sorted."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Delete the object; a missing key is not an error."""

    @abstractmethod
    def presign_get(self, key: str, expires_s: int, filename: str | None = None) -> str | None:
        """A URL a browser can download from, or None when the gateway must serve the object itself."""

    @abstractmethod
    def presign_put(self, key: str, expires_s: int, content_type: str | None = None) -> str | None:
        """A URL a browser can PUT the object to, or None when uploads must go through the gateway."""

    @abstractmethod
    def check(self) -> None:
        """Readiness probe: raise StorageError saying what is wrong, else return."""

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        """Store `data` under the key."""
        self.put_stream(key, io.BytesIO(data), content_type)

    def put_file(self, key: str, path: Path, content_type: str | None = None) -> None:
        """Store the local file at `path` under the key."""
        with open(path, "rb") as fh:
            self.put_stream(key, fh, content_type)

    def get_bytes(self, key: str) -> bytes:
        """The whole object in memory (for small objects)."""
        with self.open_read(key) as fh:
            return fh.read()

    def download_file(self, key: str, path: Path) -> None:
        """Write the object to `path`; the file appears complete or not at all."""
        path = Path(path)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out, self.open_read(key) as src:
                shutil.copyfileobj(src, out, CHUNK_BYTES)
            os.replace(tmp_name, path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise

    def delete_prefix(self, prefix: str) -> int:
        """Delete every key that starts with `prefix` (which must not be empty); return how many."""
        if not validate_prefix(prefix):
            raise InvalidKeyError("refusing to delete everything: delete_prefix needs a non-empty prefix")
        keys = self.list(prefix)
        for key in keys:
            self.delete(key)
        return len(keys)


def safe_file_name(name: str | None) -> str:
    """The base name of a user's file, stripped of directories and odd characters, fit for a key."""
    base = PurePosixPath((name or "").replace("\\", "/")).name
    cleaned = "".join(c if c.isalnum() or c in "-_.+()" else "_" for c in base).strip(". ")
    return cleaned[:200] or "upload"


def iter_limited(fh: BinaryIO, max_bytes: int | None, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
    """Yield `fh` in chunks; raise ObjectTooLargeError once more than `max_bytes` were read."""
    total = 0
    while chunk := fh.read(chunk_bytes):
        total += len(chunk)
        if max_bytes is not None and total > max_bytes:
            raise ObjectTooLargeError(f"upload is larger than the limit of {max_bytes} bytes")
        yield chunk


def open_storage(
    url: str,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    access_key: str | None = None,
    secret_key: str | None = None,
    create_bucket: bool = False,
    connect_timeout_s: float = 5.0,
    max_attempts: int = 3,
    public_endpoint_url: str | None = None,
) -> Storage:
    """Open "s3://bucket[/prefix]" as S3Storage, or "file:///abs", "/abs" or "rel/path" as LocalStorage."""
    if not url:
        raise ValueError("storage URL is empty: use s3://bucket[/prefix], file:///path or a path")
    parts = urlsplit(url)
    if parts.scheme == "s3":
        from cellkiosk.core.storage_s3 import S3Storage, make_s3_client

        client = make_s3_client(
            endpoint_url=endpoint_url,
            region=region,
            access_key=access_key,
            secret_key=secret_key,
            connect_timeout_s=connect_timeout_s,
            max_attempts=max_attempts,
        )
        presign = None
        if public_endpoint_url and public_endpoint_url != endpoint_url:
            presign = make_s3_client(
                endpoint_url=public_endpoint_url, region=region, access_key=access_key, secret_key=secret_key
            )
        storage = S3Storage(client, parts.netloc, parts.path.strip("/"), presign_client=presign)
        if create_bucket:
            storage.create_bucket()
        return storage

    from cellkiosk.core.storage_local import LocalStorage

    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ValueError(f"file URLs must name a local path (file:///abs/path), got {url!r}")
        return LocalStorage(Path(unquote(parts.path)))
    if parts.scheme and len(parts.scheme) > 1:  # one letter is a Windows drive, not a scheme
        raise ValueError(f"unsupported storage URL {url!r}: use s3://bucket[/prefix], file:///path or a path")
    return LocalStorage(Path(url))


def storage_from_settings(settings: CommonSettings) -> Storage:
    """The storage a service's settings name (the data dir's local store when unset)."""
    return open_storage(
        settings.resolved_storage_url(),
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        create_bucket=settings.s3_create_bucket,
        public_endpoint_url=settings.s3_public_endpoint_url,
    )

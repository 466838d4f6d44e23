"""Storage backend on a local (or mounted) directory."""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import BinaryIO

from cellkiosk.core.storage import (
    InvalidKeyError,
    KeyNotFoundError,
    Storage,
    StorageError,
    StorageFullError,
    iter_limited,
    validate_key,
    validate_prefix,
)

TMP_DIR = ".tmp"  # under the root, so the final os.replace stays on one filesystem


class LocalStorage(Storage):
    """Objects as files under `root`; each write lands in `root/.tmp/` first and is renamed into place."""

    def __init__(self, root: Path, *, fsync: bool = False) -> None:
        self.root = Path(root).resolve()
        self.url = self.root.as_uri()
        self._tmp = self.root / TMP_DIR
        self._fsync = fsync
        try:
            self._tmp.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the storage directory {self.root}: {exc}") from exc

    def __repr__(self) -> str:
        return f"LocalStorage({self.url!r})"

    def _path(self, key: str) -> Path:
        validate_key(key)
        if key.split("/", 1)[0] == TMP_DIR:
            raise InvalidKeyError(f"storage key {key!r} is inside the reserved directory {TMP_DIR}/")
        # Resolving also follows symlinks, which could otherwise lead out of the root.
        path = self.root.joinpath(*key.split("/")).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise InvalidKeyError(f"storage key {key!r} resolves outside {self.root}")
        return path

    def put_stream(self, key: str, fh: BinaryIO, content_type: str | None = None, max_bytes: int | None = None) -> int:
        """Store what `fh` yields, chunk by chunk; return the byte count; over `max_bytes` store nothing."""
        path = self._path(key)
        written = 0
        try:
            fd, tmp_name = tempfile.mkstemp(dir=self._tmp, prefix="put-")
        except OSError as exc:
            raise StorageError(f"cannot write under {self.root}: {exc}") from exc
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in iter_limited(fh, max_bytes):
                    out.write(chunk)
                    written += len(chunk)
                if self._fsync:
                    out.flush()
                    os.fsync(out.fileno())
            os.chmod(tmp_name, 0o644)  # mkstemp's 0600 would hide results from a gateway running as another user
            self._install(tmp_name, path)
        except OSError as exc:
            Path(tmp_name).unlink(missing_ok=True)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageFullError(f"the server's storage is full ({exc.strerror}) under {self.root}") from exc
            raise StorageError(f"cannot write {key!r} under {self.root}: {exc}") from exc
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return written

    def _install(self, tmp_name: str, path: Path) -> None:
        for attempt in range(3):
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.replace(tmp_name, path)
                return
            except FileNotFoundError:
                # A concurrent delete() may have pruned the directory we just made; make it again.
                if attempt == 2:
                    raise

    @contextmanager
    def open_read(self, key: str) -> Iterator[BinaryIO]:
        """Open the object for streaming reads."""
        path = self._path(key)
        try:
            fh = open(path, "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise KeyNotFoundError(f"no object {key!r} in {self.url}") from None
        except OSError as exc:
            raise StorageError(f"cannot read {key!r} from {self.url}: {exc}") from exc
        with fh:
            yield fh

    def open_seekable(self, key: str) -> AbstractContextManager[BinaryIO]:
        """The object's file itself: seeks and reads touch only what they ask for."""
        return self.open_read(key)

    def exists(self, key: str) -> bool:
        """Whether an object is stored under the key."""
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        """The object's size in bytes."""
        path = self._path(key)
        if not path.is_file():
            raise KeyNotFoundError(f"no object {key!r} in {self.url}")
        return path.stat().st_size

    def list(self, prefix: str) -> list[str]:
        """All keys that start with `prefix`, sorted."""
        validate_prefix(prefix)
        base_dir = prefix.rpartition("/")[0]  # only this directory can hold matching keys
        start = self._path(base_dir) if base_dir else self.root
        keys: list[str] = []
        for dirpath, dirnames, filenames in os.walk(start):
            rel = Path(dirpath).relative_to(self.root).as_posix()
            if rel == ".":
                dirnames[:] = [d for d in dirnames if d != TMP_DIR]
                rel = ""
            else:
                rel += "/"
            keys.extend(rel + name for name in filenames if (rel + name).startswith(prefix))
        return sorted(keys)

    def delete(self, key: str) -> None:
        """Delete the object and the directories it leaves empty; a missing key is not an error."""
        path = self._path(key)
        try:
            path.unlink()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return
        except OSError as exc:
            raise StorageError(f"cannot delete {key!r} from {self.url}: {exc}") from exc
        parent = path.parent
        while parent != self.root:
            try:
                parent.rmdir()
            except OSError:  # not empty (or raced with a writer): stop pruning
                break
            parent = parent.parent

    def presign_get(self, key: str, expires_s: int, filename: str | None = None) -> str | None:
        """None: the gateway serves local objects itself."""
        validate_key(key)
        return None

    def presign_put(self, key: str, expires_s: int, content_type: str | None = None) -> str | None:
        """None: uploads to local storage go through the gateway."""
        validate_key(key)
        return None

    def check(self) -> None:
        """Raise StorageError unless the root directory exists and is writable."""
        if not self.root.is_dir():
            raise StorageError(f"storage directory {self.root} does not exist")
        try:
            with tempfile.TemporaryFile(dir=self._tmp):
                pass
        except OSError as exc:
            raise StorageError(f"storage directory {self.root} is not writable: {exc}") from exc

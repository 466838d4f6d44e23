"""Resume state of a batch run: one JSON file in RESULTS_DIR, rewritten atomically after each change."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STATE_NAME = ".cellkiosk-state.json"
STATE_VERSION = 1


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's content, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def spec_fingerprint(job_type: str, model: str | None, params: dict[str, Any]) -> str:
    """What the analysis was: a result made with other settings is not reused."""
    return json.dumps({"type": job_type, "model": model, "params": params}, sort_keys=True)


@dataclass
class Entry:
    """What became of one input content (by SHA-256)."""

    file: str  # relative path of the input it was last seen as
    spec: str
    status: str  # a JobStatus value, or "submitting" before the job exists
    job_id: str | None = None
    outputs: list[str] = field(default_factory=list)  # results folders, relative to RESULTS_DIR
    cells: int | None = None
    seconds: float | None = None
    error: str | None = None


class RunState:
    """Entries by content SHA-256, saved to ``RESULTS_DIR/.cellkiosk-state.json`` on every change.

    Saving writes a temporary file in the same folder, fsyncs it and renames it over the old one,
    so an interrupted run (Ctrl-C, a crash, a full disk) leaves either the old or the new state.
    """

    def __init__(self, results_dir: Path) -> None:
        self.path = results_dir / STATE_NAME
        self.entries: dict[str, Entry] = {}
        self.warning: str | None = None
        self._lock = threading.Lock()
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            if raw.get("version") != STATE_VERSION:
                raise ValueError(f"version {raw.get('version')!r}, expected {STATE_VERSION}")
            self.entries = {sha: Entry(**e) for sha, e in raw["files"].items()}
        except (ValueError, KeyError, TypeError) as exc:
            backup = self.path.with_name(self.path.name + ".unreadable")
            os.replace(self.path, backup)
            self.warning = f"ignored an unreadable state file (kept as {backup.name}): {exc}"

    def get(self, sha: str) -> Entry | None:
        """The entry of a content hash, if any."""
        with self._lock:
            return self.entries.get(sha)

    def put(self, sha: str, entry: Entry) -> None:
        """Record an entry and save the whole state atomically."""
        with self._lock:
            self.entries[sha] = entry
            self._save()

    def forget(self, sha: str) -> None:
        """Drop an entry (its file will be analysed again) and save."""
        with self._lock:
            self.entries.pop(sha, None)
            self._save()

    def _save(self) -> None:
        data = {"version": STATE_VERSION, "files": {sha: asdict(e) for sha, e in self.entries.items()}}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=STATE_NAME, suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=1)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

"""The Python client: upload, submit, follow, download; ``segment`` for notebooks."""

from __future__ import annotations

import csv
import io
import tempfile
import time
import uuid
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from cellkiosk.client.http import ClientError, Http
from cellkiosk.core.jobs import JobStatus, JobType
from cellkiosk.imaging.io import encode_tiff

DEFAULT_URL = "http://127.0.0.1:8000"
PRESIGN_ABOVE_BYTES = 32 << 20
TERMINAL = {s.value for s in (JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED)}
ImageLike = np.ndarray | str | Path


class JobFailed(Exception):
    """A job ended failed or cancelled; ``job`` is its last JSON."""

    def __init__(self, job: dict[str, Any]) -> None:
        self.job = job
        reason = job.get("error") or "no reason given"
        super().__init__(f"job {job.get('id')} {job.get('status')}: {reason}")


class Client:
    """A cellkiosk server seen from Python.

    Parameters
    ----------
    url : str
        The gateway, e.g. ``http://127.0.0.1:8000``.
    api_key : str, optional
        Sent as ``X-API-Key`` when the server requires keys.
    presign_above_bytes : int
        Files larger than this go through a presigned PUT instead of a multipart POST.
    retries, timeout_s, backoff_s :
        Passed to :class:`~cellkiosk.client.http.Http`.
    poll_s : float
        Longest pause between two polls of a running job.
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        api_key: str | None = None,
        *,
        presign_above_bytes: int = PRESIGN_ABOVE_BYTES,
        retries: int = 5,
        timeout_s: float = 60.0,
        backoff_s: float = 0.5,
        poll_s: float = 2.0,
    ) -> None:
        self.http = Http(url, api_key, timeout_s=timeout_s, retries=retries, backoff_s=backoff_s)
        self.url = self.http.base_url
        self.presign_above_bytes = presign_above_bytes
        self.poll_s = poll_s

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close connections."""
        self.http.close()

    # -- platform -----------------------------------------------------------
    def models(self) -> list[dict[str, Any]]:
        """Installed models with their cards (GET /api/models)."""
        return list(self.http.json("GET", "/api/models"))

    def job_types(self) -> list[dict[str, Any]]:
        """Job types with their params schema (GET /api/job-types)."""
        return list(self.http.json("GET", "/api/job-types"))

    # -- uploads and jobs -----------------------------------------------------
    def upload(self, path: str | Path, name: str | None = None) -> str:
        """Upload a file (presigned PUT above ``presign_above_bytes``, multipart below); returns its key."""
        path = Path(path)
        name = name or path.name
        size = path.stat().st_size
        if size > self.presign_above_bytes:
            return self._upload_presigned(path, name, size)
        return self.upload_bytes(path.read_bytes(), name)

    def upload_bytes(self, data: bytes, name: str) -> str:
        """Upload bytes as a multipart file named ``name``; returns its key."""
        return str(self.http.json("POST", "/api/uploads", files={"file": (name, data)})["key"])

    def _upload_presigned(self, path: Path, name: str, size: int) -> str:
        grant = self.http.json("POST", "/api/uploads/presign", json={"name": name, "size": size})
        headers = {**grant.get("headers", {}), "Content-Length": str(size)}
        self.http.request(grant.get("method", "PUT"), grant["url"], open_body=lambda: path.open("rb"), headers=headers)
        return str(grant["key"])

    def create_job(
        self,
        key: str | list[str],
        job_type: str = JobType.SEGMENTATION.value,
        model: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> str:
        """Create a job on uploaded key(s) (a list makes one batch job); returns its id.

        The request carries a fresh ``Idempotency-Key``, so it is retried after a timeout or a dropped
        connection without risking a second job.
        """
        body: dict[str, Any] = {"type": job_type, "params": params or {}}
        body["inputs" if isinstance(key, list) else "input"] = key
        if model:
            body["model"] = model
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        return str(self.http.json("POST", "/api/jobs", json=body, headers=headers, idempotent=True)["id"])

    def submit(
        self,
        path: str | Path,
        job_type: str = JobType.SEGMENTATION.value,
        model: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> str:
        """Upload a file and create a job on it; returns the job id."""
        return self.create_job(self.upload(path), job_type, model, params)

    def submit_many(
        self,
        paths: Iterable[str | Path],
        job_type: str = JobType.SEGMENTATION.value,
        model: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> list[str]:
        """One job per file (not a batch, so each can be followed and retried alone); returns the ids."""
        return [self.submit(p, job_type, model, params) for p in paths]

    def status(self, job_id: str) -> dict[str, Any]:
        """The job as it is now (GET /api/jobs/{id})."""
        return dict(self.http.json("GET", f"/api/jobs/{job_id}"))

    def wait(
        self,
        job_id: str,
        timeout_s: float | None = None,
        on_update: Callable[[dict[str, Any]], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> dict[str, Any]:
        """Poll until the job ends (0.25 s, backing off to ``poll_s``); returns its final JSON.

        Raises TimeoutError after ``timeout_s``; returns early (job not finished) when ``should_stop()``.
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        pause = 0.25
        while True:
            job = self.status(job_id)
            if on_update:
                on_update(job)
            if job["status"] in TERMINAL or (should_stop and should_stop()):
                return job
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} is still {job['status']} after {timeout_s} s")
            time.sleep(pause)
            pause = min(self.poll_s, pause * 1.5)

    def cancel(self, job_id: str) -> dict[str, Any]:
        """Cancel a job: queued ones at once, running ones at their next stage boundary."""
        return dict(self.http.json("DELETE", f"/api/jobs/{job_id}"))

    def download_archive(self, job_id: str, dest: str | Path) -> Path:
        """Save the result zip of a finished job at ``dest``."""
        return self.http.download(f"/api/jobs/{job_id}/result", Path(dest))

    def download(self, job_id: str, out_dir: str | Path) -> Path:
        """Download a finished job's result and unpack it into ``out_dir``; returns ``out_dir``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=out) as tmp:
            archive = self.download_archive(job_id, Path(tmp) / "result.zip")
            unpack(archive, out)
        return out

    # -- notebooks --------------------------------------------------------------
    def segment(
        self, image: ImageLike, model: str | None = None, timeout_s: float | None = 600.0, **params: Any
    ) -> tuple[np.ndarray, Any]:
        """Segment an image (array or file): returns ``(labels, cells)``.

        ``labels`` is the instance label image (one page per input page); ``cells`` is a pandas
        DataFrame of ``cells.csv`` when pandas is installed, else a list of dicts. A 2-D array is
        (Y, X); pass ``axes="CYX"`` etc. for anything else. Raises :class:`JobFailed`.
        """
        return self._analyse(image, JobType.SEGMENTATION.value, model, params, timeout_s)

    def track(
        self, movie: ImageLike, model: str | None = None, timeout_s: float | None = 1800.0, **params: Any
    ) -> tuple[np.ndarray, Any]:
        """Track cells through a movie (T, Y, X): returns ``(labels, cells)`` like :meth:`segment`."""
        return self._analyse(movie, "tracking", model, params, timeout_s)

    def _analyse(
        self, image: ImageLike, job_type: str, model: str | None, params: dict[str, Any], timeout_s: float | None
    ) -> tuple[np.ndarray, Any]:
        if isinstance(image, np.ndarray):
            key = self.upload_bytes(encode_tiff(image), "array.tif")
        else:
            key = self.upload(image)
        job_id = self.create_job(key, job_type, model, params)
        job = self.wait(job_id, timeout_s=timeout_s)
        if job["status"] != JobStatus.DONE.value:
            raise JobFailed(job)
        with tempfile.TemporaryDirectory() as tmp:
            with zipfile.ZipFile(self.download_archive(job_id, Path(tmp) / "result.zip")) as zf:
                return read_labels(zf), read_cells(zf.read("cells.csv"))


def unpack(archive: Path, out_dir: Path) -> list[str]:
    """Extract a result zip into ``out_dir``, refusing members that would land outside it."""
    root = out_dir.resolve()
    with zipfile.ZipFile(archive) as zf:
        for name in zf.namelist():
            target = (root / name).resolve()
            if not target.is_relative_to(root):
                raise ValueError(f"result archive member '{name}' points outside {out_dir}")
        zf.extractall(root)
        return zf.namelist()


def read_labels(zf: zipfile.ZipFile) -> np.ndarray:
    """The label image of a single-image result archive."""
    names = [n for n in zf.namelist() if n.endswith("_labels.tif")]
    if len(names) != 1:
        raise ClientError(f"expected one *_labels.tif in the result archive, found {names or 'none'}")
    return np.asarray(tifffile.imread(io.BytesIO(zf.read(names[0]))))


def read_cells(data: bytes) -> Any:
    """``cells.csv`` as a pandas DataFrame when pandas is installed, else a list of dicts."""
    try:
        import pandas as pd
    except ImportError:
        return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    return pd.read_csv(io.BytesIO(data))


def count_rows(path: Path) -> int:
    """Data rows of a CSV file (0 when it is missing)."""
    if not path.is_file():
        return 0
    with path.open(newline="", encoding="utf-8") as fh:
        return sum(1 for _ in csv.DictReader(fh))

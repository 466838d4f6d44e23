"""Local storage on a full disk (a real 4 MiB tmpfs): a clear error, never a partial result marked done."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cellkiosk.core.jobs import result_prefix
from tests.integration.conftest import VAL_SMALL, val_png
from tests.records import record

pytestmark = pytest.mark.slow  # a fault on a real tmpfs: `make test` runs it, test-fast skips it


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs mounted for the test (needs root, as CI and these machines run tests)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (not root?): {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Fill the disk to the last byte."""
    filler = disk / "filler"
    with filler.open("wb") as fh:
        try:
            while True:
                fh.write(b"\x00" * 65536)
                fh.flush()
        except OSError:
            pass
    return filler


def test_full_disk_fails_the_job_clearly_and_uploads_get_507(make_platform: Any, small_disk: Path) -> None:
    p = make_platform(storage_url=str(small_disk / "storage"))
    key = p.upload(val_png(VAL_SMALL))
    filler = fill(small_disk)
    job = p.wait(p.submit(key, params={"diameter": 16}))
    assert job["status"] == "failed", job
    assert "storage is full" in job["error"] and "free space" in job["error"], job["error"]
    assert p.storage.list(result_prefix(job["id"])) == []  # nothing partial left behind
    resp = p.http.post("/api/uploads", files={"file": ("n.png", val_png(VAL_SMALL).read_bytes())})
    assert resp.status_code == 507 and "storage is full" in resp.json()["detail"]
    filler.unlink()
    assert p.wait(p.submit(key, params={"diameter": 16}))["status"] == "done"
    record(
        "fault_disk_full",
        {"fault": "local storage on a full 4 MiB tmpfs", "job": "failed", "reason": job["error"],
         "partial_results": 0, "upload_while_full": 507, "after_space_freed": "done"},
    )  # fmt: skip

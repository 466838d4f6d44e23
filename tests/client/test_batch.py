"""``cellkiosk submit`` on folders against the real platform: mirrored results, summary, resume, failures."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from cellkiosk.cli import main
from cellkiosk.client import Client
from cellkiosk.client.state import STATE_NAME
from tests.client.conftest import SMALL, copy_image
from tests.fixtures.platform import Platform

RESULT_FILES = ("cells.csv", "job.json")


def created(platform: Platform) -> int:
    """Segmentation jobs created on the platform so far (its own counter in Redis)."""
    return int(platform.queue.stats()[0].get("segmentation|created", 0))


def submit(platform: Platform, *args: str) -> int:
    return main(["submit", *args, "--server", platform.url, "--retries", "1"])


def summary(out: Path) -> dict[str, dict[str, str]]:
    with (out / "summary.csv").open(newline="") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == ["file", "job_id", "status", "cells", "seconds", "error"]
        return {row["file"]: row for row in reader}


def state(out: Path) -> dict[str, Any]:
    return dict(json.loads((out / STATE_NAME).read_text())["files"])


@pytest.fixture(scope="module")
def first_run(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, int, int]:
    """One run over a nested folder: (input, results, exit code, jobs it created)."""
    root = tmp_path_factory.mktemp("screen")
    copy_image(SMALL[0], root / "plate1" / "A01.png")
    copy_image(SMALL[1], root / "plate1" / "A02.png")
    copy_image(SMALL[2], root / "plate2" / "day3" / "B01.png")
    (root / "plate1" / "notes.txt").write_text("imaged on tuesday")
    copy_image(SMALL[0], root / ".thumbs" / "A01.png")
    out = tmp_path_factory.mktemp("results") / "out"
    before = created(platform)
    code = submit(platform, str(root), "--out", str(out), "--concurrency", "3")  # progress bars on
    return root, out, code, created(platform) - before


@pytest.mark.slow
def test_nested_folder_gives_mirrored_results_and_a_summary(first_run: tuple[Path, Path, int, int]) -> None:
    _, out, code, jobs = first_run
    assert code == 0 and jobs == 3
    rows = summary(out)
    assert set(rows) == {"plate1/A01.png", "plate1/A02.png", "plate2/day3/B01.png"}
    for file, row in rows.items():
        folder = out / Path(file).with_suffix("")
        stem = Path(file).stem
        for name in (*RESULT_FILES, f"{stem}_labels.tif", f"{stem}_overlay.png"):
            assert (folder / name).is_file(), f"{folder / name} missing"
        with (folder / "cells.csv").open() as fh:
            cells = sum(1 for _ in csv.DictReader(fh))
        assert row["status"] == "done" and row["error"] == ""
        assert int(row["cells"]) == cells > 0
        assert float(row["seconds"]) > 0 and len(row["job_id"]) == 32
    assert len({row["job_id"] for row in rows.values()}) == 3
    # resume matches by content: the state's keys are the SHA-256 the server computed too
    shas = {e["file"]: sha for sha, e in state(out).items()}
    for file, row in rows.items():
        record = json.loads((out / Path(file).with_suffix("") / "job.json").read_text())
        assert record["input_sha256"] == shas[file] and record["job_id"] == row["job_id"]
    assert not (out / "plate1" / "notes").exists() and not (out / ".thumbs").exists()


def test_rerun_skips_done_files_and_redoes_only_what_the_state_lost(
    platform: Platform, first_run: tuple[Path, Path, int, int], tmp_path: Path
) -> None:
    root, first_out, _, _ = first_run
    out = tmp_path / "out"
    shutil.copytree(first_out, out)
    before = summary(out)
    n = created(platform)
    assert submit(platform, str(root), "--out", str(out), "-q") == 0
    assert created(platform) == n  # everything was done: nothing resubmitted
    assert summary(out) == before
    # as if the run had been interrupted before A02 finished: its entry is missing
    entries = state(out)
    lost = next(sha for sha, e in entries.items() if e["file"] == "plate1/A02.png")
    del entries[lost]
    (out / STATE_NAME).write_text(json.dumps({"version": 1, "files": entries}))
    assert submit(platform, str(root), "--out", str(out), "-q") == 0
    assert created(platform) == n + 1
    after = summary(out)
    assert after["plate1/A02.png"]["job_id"] != before["plate1/A02.png"]["job_id"]
    assert after["plate1/A02.png"]["cells"] == before["plate1/A02.png"]["cells"]
    assert {k: v for k, v in after.items() if k != "plate1/A02.png"} == {
        k: v for k, v in before.items() if k != "plate1/A02.png"
    }


def test_a_bad_file_fails_alone_and_a_rerun_retries_only_it(
    platform: Platform, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "in"
    copy_image(SMALL[1], root / "good.png")
    (root / "sub").mkdir()
    (root / "sub" / "broken.tif").write_bytes(b"II*\x00 this is not really a tiff")
    out = tmp_path / "out"
    n = created(platform)
    assert submit(platform, str(root), "--out", str(out), "-q") == 1
    err = capsys.readouterr().err
    assert "FAILED sub/broken.tif" in err and "good.png" not in err
    rows = summary(out)
    assert rows["good.png"]["status"] == "done" and (out / "good" / "good_labels.tif").is_file()
    assert rows["sub/broken.tif"]["status"] == "failed" and "TIFF" in rows["sub/broken.tif"]["error"]
    assert not (out / "sub" / "broken").exists()
    assert created(platform) == n + 2
    assert submit(platform, str(root), "--out", str(out), "-q") == 1  # retried, fails again
    assert created(platform) == n + 3
    assert summary(out)["good.png"] == rows["good.png"]


@pytest.mark.slow
def test_a_job_submitted_before_an_interruption_is_followed_not_resubmitted(platform: Platform, tmp_path: Path) -> None:
    image = copy_image(SMALL[2], tmp_path / "in" / "w1.png")
    out = tmp_path / "out"
    assert submit(platform, str(image), "--out", str(out), "-q") == 0
    entries = state(out)
    (entry,) = entries.values()
    # Ctrl-C right after the job was created: its id is known, nothing downloaded yet
    job_id = Client(platform.url).submit(image)
    entry.update(status="queued", job_id=job_id, outputs=[], cells=None)
    (out / STATE_NAME).write_text(json.dumps({"version": 1, "files": entries}))
    shutil.rmtree(out / "w1")
    n = created(platform)
    assert submit(platform, str(image), "--out", str(out), "-q") == 0
    assert created(platform) == n
    assert summary(out)["w1.png"]["job_id"] == job_id and (out / "w1" / "w1_labels.tif").is_file()


@pytest.mark.slow
def test_changed_params_are_not_served_from_old_results(platform: Platform, tmp_path: Path) -> None:
    image = copy_image(SMALL[2], tmp_path / "in" / "w1.png")
    out = tmp_path / "out"
    assert submit(platform, str(image), "--out", str(out), "-q") == 0
    before = summary(out)["w1.png"]
    n = created(platform)
    assert submit(platform, str(image), "--out", str(out), "-q", "--param", "min_cell_px=400") == 0
    assert created(platform) == n + 1
    after = summary(out)["w1.png"]
    assert after["job_id"] != before["job_id"] and int(after["cells"]) < int(before["cells"])
    record = json.loads((out / "w1" / "job.json").read_text())  # the result now on disk is the new job's
    assert record["job_id"] == after["job_id"] and record["params"] == {"min_cell_px": 400}


def test_usage_and_connection_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cellkiosk.core.embedded import free_port

    assert main(["submit", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    image = copy_image(SMALL[0], tmp_path / "a.png")
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["submit", str(image), "--out", str(tmp_path / "o"), "--server", url, "--retries", "0"]) == 2
    assert "is the server running" in capsys.readouterr().err
    assert main(["submit", str(image), "--out", str(tmp_path / "o"), "--param", "oops"]) == 2
    assert "key=value" in capsys.readouterr().err


@pytest.mark.slow
def test_identical_files_share_one_job_and_each_gets_the_results(platform: Platform, tmp_path: Path) -> None:
    root = tmp_path / "in"
    copy_image(SMALL[1], root / "day1" / "w1.png")
    copy_image(SMALL[1], root / "day2" / "w1.png")  # the same bytes imaged twice (a re-export)
    out = tmp_path / "out"
    n = created(platform)
    assert submit(platform, str(root), "--out", str(out), "-q") == 0
    assert created(platform) == n + 1
    rows = summary(out)
    assert rows["day1/w1.png"]["job_id"] == rows["day2/w1.png"]["job_id"]
    assert {r["status"] for r in rows.values()} == {"done"}
    assert (out / "day1" / "w1" / "w1_labels.tif").is_file() and (out / "day2" / "w1" / "w1_labels.tif").is_file()

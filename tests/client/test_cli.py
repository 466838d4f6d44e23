"""The client subcommands: in-process through ``cellkiosk.cli.main``, and as a real process hit by Ctrl-C."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cellkiosk.cli import main
from cellkiosk.client import Client
from cellkiosk.client.state import STATE_NAME
from tests.client.conftest import LARGE, SMALL, copy_image, val_png
from tests.client.test_batch import created, summary
from tests.fixtures.platform import REPO, Platform


def cli(platform: Platform, *args: str) -> int:
    return main([*args, "--server", platform.url])


@pytest.mark.slow
def test_status_download_cancel_models(platform: Platform, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    client = Client(platform.url)
    done = client.submit(copy_image(SMALL[1], tmp_path / "x.png"))
    busy = client.submit(val_png(LARGE))
    waiting = client.submit(copy_image(SMALL[0], tmp_path / "y.png"))
    assert cli(platform, "cancel", waiting) == 0
    assert "cancelled" in capsys.readouterr().out
    assert cli(platform, "download", done, "--out", str(tmp_path / "res"), "--wait") == 0
    assert (tmp_path / "res" / "x_labels.tif").is_file()
    assert cli(platform, "status", done, "--json") == 0
    assert json.loads(capsys.readouterr().out.split("\n", 1)[1])["status"] == "done"
    assert cli(platform, "status", waiting) == 1  # the job did not succeed
    assert cli(platform, "download", waiting, "--out", str(tmp_path / "no")) == 2
    assert "409: job is cancelled" in capsys.readouterr().err
    assert cli(platform, "status", "0" * 32) == 2
    assert "no job '000" in capsys.readouterr().err
    assert cli(platform, "submit", str(tmp_path / "x.png"), "--out", str(tmp_path / "o"), "--model", "nope") == 2
    assert "no model 'nope' for segmentation here (installed: nuclear, nuclear-timelapse)" in capsys.readouterr().err
    assert cli(platform, "models") == 0
    out = capsys.readouterr().out
    assert "nuclear v3" in out and "segmentation" in out  # the newest version of each model
    client.wait(busy, timeout_s=120)


@pytest.mark.slow
def test_ctrl_c_leaves_a_state_the_next_run_resumes(platform: Platform, tmp_path: Path) -> None:
    root = tmp_path / "in"
    for i in range(3):
        copy_image(SMALL[i], root / f"w{i}.png")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "cellkiosk.cli", "submit", str(root), "--out", str(out), "--server", platform.url]
    proc = subprocess.Popen([*cmd, "--concurrency", "1", "-q"], cwd=REPO, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        state = out / STATE_NAME
        if state.exists() and '"done"' in state.read_text():
            proc.send_signal(signal.SIGINT)
            break
        time.sleep(0.01)
    code = proc.wait(timeout=60)
    err = proc.stderr.read() if proc.stderr else ""
    entries = json.loads((out / STATE_NAME).read_text())["files"]  # whole, parseable JSON
    statuses = sorted(e["status"] for e in entries.values())
    assert code in (130, 0), err
    if code == 130:  # 0 only if the last two jobs finished within the moment the signal took
        assert "interrupted; re-run the same command to resume" in err and "done" in statuses
    before = created(platform)
    in_flight = sum(1 for e in entries.values() if e["status"] in ("queued", "running"))
    done = statuses.count("done")
    assert main([*cmd[3:], "-q"]) == 0
    assert created(platform) - before == 3 - done - in_flight  # nothing done twice, in-flight jobs followed
    assert {r["status"] for r in summary(out).values()} == {"done"}


def test_the_client_loads_neither_tensorflow_nor_the_services() -> None:
    code = (
        "import sys, cellkiosk.cli, cellkiosk.client.commands, cellkiosk.client.batch\n"
        "heavy = ('tensorflow', 'keras', 'fastapi', 'uvicorn', 'redis', 'boto3')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m.startswith(('cellkiosk.gateway',"
        " 'cellkiosk.consumer', 'cellkiosk.inference', 'cellkiosk.training'))))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_models_table_shows_the_cards_headline_numbers() -> None:
    from cellkiosk.client.commands import headline_metrics

    card_metrics = {"val_overall": {"ap50": 0.81, "map": 0.52, "images": 66}, "convention": "AP = TP/(TP+FP+FN)"}
    assert headline_metrics(card_metrics) == {"ap50": 0.81, "map": 0.52, "images": 66}
    assert headline_metrics({"ap50": 0.7, "tuned": True, "note": "x"}) == {"ap50": 0.7}

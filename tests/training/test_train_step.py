"""Training runs end to end on a few real crops, checkpoints, and resumes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from cellkiosk.training.train import TrainConfig, train
from tests.fixtures.platform import DSB


def test_tiny_training_run_checkpoints_and_resumes(tmp_path: Path) -> None:
    cfg = TrainConfig(
        data_dir=str(DSB),
        out_dir=str(tmp_path / "run"),
        crop_px=64,
        batch_size=2,
        steps_per_epoch=2,
        epochs=1,
        base_filters=4,
        depth=2,
        limit_images=3,
        jit_compile=False,
    )
    ckpt = train(cfg)
    assert ckpt.exists()
    assert json.loads((tmp_path / "run/state.json").read_text()) == {"epoch": 1}
    assert (tmp_path / "run/loss.png").read_bytes().startswith(b"\x89PNG")
    cfg.epochs = 2
    train(cfg)  # resumes from epoch 1
    with (tmp_path / "run/training_log.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["epoch"] for r in rows] == ["0", "1"]
    assert all(float(r["loss"]) > 0 for r in rows)

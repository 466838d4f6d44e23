"""Training runs end to end on a few real crops, checkpoints, and resumes."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from cellkiosk.training.train import TrainConfig, batches, train
from tests.fixtures.platform import DSB, SHARED_DATA


@pytest.mark.slow
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


@pytest.mark.slow
def test_fine_tuning_starts_from_a_checkpoint_and_mixes_in_ctc_frames(tmp_path: Path) -> None:
    base = TrainConfig(
        data_dir=str(DSB), out_dir=str(tmp_path / "base"), crop_px=64, batch_size=2, steps_per_epoch=1,
        epochs=1, base_filters=4, depth=2, limit_images=2, jit_compile=False,
    )  # fmt: skip
    start = train(base)
    tuned = replace(
        base, out_dir=str(tmp_path / "tuned"), init_from=str(start), learning_rate=1e-9, min_learning_rate=1e-9,
        ctc_sequences=[str(SHARED_DATA / "ctc" / "Fluo-N2DH-SIM+" / "01")], ctc_frames=0.05,
    )  # fmt: skip
    train(tuned)
    import keras  # not at collection: importing Keras then breaks pytest's capture for later tests that use capsys

    assert json.loads((tmp_path / "tuned/config.json").read_text())["init_from"] == str(start)
    before, after = (keras.models.load_model(p, compile=False) for p in (start, tmp_path / "tuned/last.keras"))
    pairs = zip(before.trainable_weights, after.trainable_weights, strict=True)  # (batch-norm statistics move)
    assert all(np.allclose(a.numpy(), b.numpy(), atol=1e-6) for a, b in pairs)  # it started from `start`


@pytest.mark.slow
def test_batches_draw_the_ctc_share_from_the_extra_images() -> None:
    cfg = TrainConfig(data_dir="", out_dir="", crop_px=8, batch_size=400, ctc_share=0.25)
    plain = [(np.zeros((16, 16, 1), np.float32), np.zeros((16, 16, 2), np.float32))]
    extra = [(np.full((32, 32, 1), 5.0, np.float32), np.zeros((32, 32, 2), np.float32))]
    x, _ = next(batches(plain, cfg, np.random.default_rng(0), extra))
    from_extra = (x.mean(axis=(1, 2, 3)) > 2).mean()  # augmentation moves intensities by < 2
    assert 0.18 < from_extra < 0.32
    x, _ = next(batches(plain, cfg, np.random.default_rng(0)))
    assert (x.mean(axis=(1, 2, 3)) < 2).all()

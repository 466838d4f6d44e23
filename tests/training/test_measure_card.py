"""``cellkiosk measure-card`` on a small real folder: what it records does not depend on the card's last tuning."""

from __future__ import annotations

import csv
from pathlib import Path

from cellkiosk.inference.model_card import ModelCard
from cellkiosk.training.finalize import DEFAULT_POSTPROCESS, measure_card
from tests.fixtures.platform import DSB, MODELS_DIR

VAL = ["05040e2e959c3f5632558fc9683fec88f0010026c555b499066346f67fdd0e13"]  # one DSB2018 val fluorescence image


def small_folder(root: Path) -> Path:
    """A DSB2018-shaped folder of val images (links to the shared data, nothing copied)."""
    for sub in ("images", "labels"):
        (root / sub).mkdir(parents=True)
    with (DSB / "index.csv").open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["id"] in VAL]
    with (root / "index.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    for name in VAL:
        (root / "images" / f"{name}.png").symlink_to(DSB / "images" / f"{name}.png")
        (root / "labels" / f"{name}.tif").symlink_to(DSB / "labels" / f"{name}.tif")
    return root


def test_untuned_defaults_are_the_exports_start_whatever_the_card_was_tuned_to(tmp_path: Path) -> None:
    data = small_folder(tmp_path / "data")
    card = ModelCard.read(MODELS_DIR / "nuclear" / "3")
    card.postprocess.params = dict(DEFAULT_POSTPROCESS)  # as `cellkiosk export` starts
    first = measure_card(card, data, None)
    assert card.postprocess.params != DEFAULT_POSTPROCESS  # tuned on these images
    second = measure_card(card, data, None)  # measured again, as `measure-card` does a shipped card
    assert second["val_fluorescence_untuned_defaults"] == first["val_fluorescence_untuned_defaults"]
    assert second["headline"] == first["headline"]  # the tuning finds the same thresholds again

"""Model cards without a network of their own: the shipped tracking card."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from cellkiosk.inference.model_card import CARD_FILE, ModelCard
from cellkiosk.inference.store import ModelStore
from cellkiosk.tracking.params import TrackingParams
from tests.fixtures.platform import MODELS_DIR


def test_shipped_tracking_card_sizes_nuclei_itself_with_the_documented_defaults() -> None:
    store = ModelStore(MODELS_DIR)
    card = store.default_for("tracking")
    assert card is not None and card.name == "tracking" and card.job_type == "tracking" and card.version == "3"
    assert card.segmentation_model and ":" in card.segmentation_model  # pinned: the version its figures are for
    segmenter = store.get(card.segmentation_model, "segmentation")
    assert segmenter.inputs.diameter_px  # jobs resize frames to it (params.diameter auto)
    assert "scale" not in card.segmentation and card.tracking_diameter_px  # no fixed scale; distances scale
    assert store.get("tracking:1").segmentation_model == "nuclear:1"  # the version its figures were measured with
    assert store.get("tracking:2").segmentation_model == "nuclear-timelapse:1"
    assert card.watershed_defaults == {"split_threshold": None}  # no seed splitting on movies (docs/tracking.md)
    # docs/tracking.md's defaults, except that divisions wait up to 2 frames for touching daughters to part
    assert TrackingParams.model_validate(card.tracking) == TrackingParams(division_settle_frames=2)
    assert card.n_channels == 0 and card.outputs.heads == []
    with pytest.raises(ValueError, match="no SavedModel of its own"):
        _ = card.saved_model_path
    assert store.default_for("segmentation").name == "nuclear"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("version", "section", "misspelt"),
    [("1", "tracking", "max_distanse_px"), ("2", "segmentation", "seed_treshold")],
)
def test_card_with_a_misspelt_default_is_refused(tmp_path: Path, version: str, section: str, misspelt: str) -> None:
    data = yaml.safe_load((MODELS_DIR / "tracking" / version / CARD_FILE).read_text())
    data[section][misspelt] = 10
    folder = tmp_path / "tracking" / "3"
    folder.mkdir(parents=True)
    (folder / CARD_FILE).write_text(yaml.safe_dump(data))
    with pytest.raises(ValidationError, match=misspelt):
        ModelCard.read(folder)
    assert ModelStore(tmp_path).cards() == []  # the store skips it with a warning

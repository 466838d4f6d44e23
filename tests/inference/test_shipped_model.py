"""The shipped nuclear models (nuclear, and nuclear-timelapse fine-tuned for tracking): each card matches its
SavedModel, and each segments real nuclei."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from cellkiosk.evaluation.segmentation import match
from cellkiosk.imaging.io import read_image_file
from cellkiosk.inference.model_card import ModelCard
from cellkiosk.inference.predictor import LocalPredictor
from cellkiosk.inference.segment import labels_from_heads, predict_heads, watershed_params
from cellkiosk.inference.store import ModelStore
from tests.fixtures.platform import DSB, MODELS_DIR

# DSB2018 val split, fluorescence: never seen in training
VAL_IDS = [
    "193ffaa5272d5c421ae02130a64d98ad120ec70e4ed97a72cdcd4801ce93b066",
    "05040e2e959c3f5632558fc9683fec88f0010026c555b499066346f67fdd0e13",
    "1609b1b8480ee52652a644403b3f7d5511410a016750aa3b9a4c8ddb3e893e8e",
]


@pytest.fixture(scope="module", params=["nuclear", "nuclear-timelapse"])
def card(request: pytest.FixtureRequest) -> ModelCard:
    card = ModelStore(MODELS_DIR).get(request.param, "segmentation")
    assert card.path is not None
    return card


def test_card_matches_saved_model_signature(card: ModelCard) -> None:
    import tensorflow as tf

    signature = tf.saved_model.load(str(card.saved_model_path)).signatures[card.outputs.signature]
    (spec,) = signature.structured_input_signature[1].values()
    assert spec.name == card.outputs.input_key and spec.dtype == tf.float32
    assert spec.shape.as_list() == [None, None, None, card.n_channels]
    outputs = signature.structured_outputs
    assert list(outputs) == [card.outputs.output_key]
    assert outputs[card.outputs.output_key].shape[-1] == len(card.outputs.heads)


def test_card_carries_measured_metrics_and_training_provenance(card: ModelCard) -> None:
    fluo = card.metrics["val"]["fluorescence"]
    assert fluo["n_images"] == 57 and 0 < fluo["ap50_image_mean"] <= 1
    assert card.training["commit"] and card.training["data"].startswith("dsb2018")
    assert card.parameters and card.parameters < 5_000_000
    size = sum(p.stat().st_size for p in card.saved_model_path.rglob("*") if p.is_file())
    assert size < 20 * 1024**2


@pytest.mark.slow
def test_segments_real_val_images(card: ModelCard) -> None:
    predictor = LocalPredictor()
    params = watershed_params(card, {})
    aps = []
    for name in VAL_IDS:
        image = read_image_file(DSB / "images" / f"{name}.png")[0][..., :1]
        heads = predict_heads(image, card, predictor, card.inputs.tile_px, card.inputs.tile_overlap_px, 4)
        labels = labels_from_heads(heads, card, params)
        gt = np.asarray(tifffile.imread(DSB / "labels" / f"{name}.tif"))
        aps.append(match(gt, labels, 0.5).ap)
    assert min(aps) >= 0.6 and float(np.mean(aps)) >= 0.75, aps

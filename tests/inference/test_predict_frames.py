"""Movie frames batched through the predictor give what frame-by-frame prediction gives, in fewer calls."""

from __future__ import annotations

import numpy as np
import pytest

from cellkiosk.imaging.io import read_image_file
from cellkiosk.inference.model_card import ModelCard
from cellkiosk.inference.predictor import LocalPredictor
from cellkiosk.inference.segment import predict_frames, predict_heads
from cellkiosk.inference.store import ModelStore
from tests.fixtures.platform import DSB, MODELS_DIR
from tests.inference.test_shipped_model import VAL_IDS


class CountingPredictor(LocalPredictor):
    """The real in-process predictor, recording the batch size of every call."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []

    def predict(self, card: ModelCard, batch: np.ndarray) -> np.ndarray:
        self.calls.append(batch.shape[0])
        return super().predict(card, batch)


@pytest.fixture(scope="module")
def card() -> ModelCard:
    return ModelStore(MODELS_DIR).get("nuclear", "segmentation")


@pytest.mark.slow
def test_batched_frames_equal_frame_by_frame_prediction(card: ModelCard) -> None:
    image = read_image_file(DSB / "images" / f"{VAL_IDS[0]}.png")[0][..., :1]
    crops = [image[y : y + 100, 10 : 10 + 90] for y in (0, 20, 40)]  # one shape, one tile each
    other = [image[:64, :64], image[30:94, 30:94]]  # a second shape
    big = image[:200, :150]  # larger than the 128 px tile: tiled on its own
    frames = [*crops, *other, big, crops[0]]
    predictor = CountingPredictor()
    batched = list(predict_frames(iter(frames), card, predictor, 128, 32, 2))
    calls_batched, predictor.calls = predictor.calls, []
    single = [predict_heads(f, card, predictor, 128, 32, 2) for f in frames]
    assert len(batched) == len(frames)
    for got, want in zip(batched, single, strict=True):
        assert got.shape == want.shape and np.allclose(got, want, atol=1e-4)
    tiles_of_big = len(predictor.calls) - 6  # frame by frame: one call per small frame, the rest for `big`
    assert calls_batched[:3] == [2, 1, 2]  # crops 0-1, crop 2 (the shape changes), the second shape's pair
    assert calls_batched[-1] == 1 and len(calls_batched) == 4 + tiles_of_big

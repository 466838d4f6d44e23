"""``CELLKIOSK_PRECISION``: bfloat16 in-process inference stays close to float32 on a real image and is opt-in.

Without native bfloat16 an AVX-512 CPU emulates it (slower, same numbers); an AVX2-only CPU does not run the
rewrite at all, and there the test checks that the heads stay float32's.

The bfloat16 rewrite is a process-wide TensorFlow setting, so it runs in a child process: it must not
change the float32 model that the other tests in this process use.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from cellkiosk.core.settings import ConsumerSettings
from cellkiosk.imaging.io import read_image_file
from cellkiosk.imaging.normalize import normalize_percentile
from cellkiosk.inference.predictor import LocalPredictor, cpu_runs_bf16
from cellkiosk.inference.store import ModelStore
from tests.fixtures.platform import DSB, MODELS_DIR
from tests.inference.test_shipped_model import VAL_IDS

CHILD = """
import sys
import numpy as np
from pathlib import Path
from cellkiosk.inference.predictor import LocalPredictor
from cellkiosk.inference.store import ModelStore
card = ModelStore(Path(sys.argv[1])).default_for("segmentation")
batch = np.load(sys.argv[2])
np.save(sys.argv[3], LocalPredictor(sys.argv[4]).predict(card, batch))
"""


def batch() -> np.ndarray:
    image = read_image_file(DSB / "images" / f"{VAL_IDS[0]}.png")[0][..., :1]
    return normalize_percentile(image)[None, :256, :256].astype(np.float32)


def predict_in_child(tmp_path: Path, precision: str) -> np.ndarray:
    np.save(tmp_path / "in.npy", batch())
    out = tmp_path / f"{precision}.npy"
    subprocess.run(
        [sys.executable, "-c", CHILD, str(MODELS_DIR), str(tmp_path / "in.npy"), str(out), precision], check=True
    )
    return np.load(out)


@pytest.mark.slow
def test_bfloat16_heads_are_close_to_float32_but_not_the_same(tmp_path: Path) -> None:
    card = ModelStore(MODELS_DIR).default_for("segmentation")
    assert card is not None
    reference = LocalPredictor().predict(card, batch())
    low = predict_in_child(tmp_path, "bfloat16")
    difference = np.abs(low - reference).max()
    if cpu_runs_bf16() is False:  # no AVX-512: TensorFlow does not rewrite, as the predictor warns
        assert difference == 0, difference
    else:
        assert 0 < difference < 0.1, difference  # the rewrite ran (not float32) and kept the heads usable
    assert np.abs(predict_in_child(tmp_path, "float32") - reference).max() < 1e-5  # the child itself is faithful


def test_precision_is_float32_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ConsumerSettings().precision == "float32"
    monkeypatch.setenv("CELLKIOSK_PRECISION", "bfloat16")
    assert ConsumerSettings().precision == "bfloat16"
    monkeypatch.setenv("CELLKIOSK_PRECISION", "float16")
    with pytest.raises(ValidationError):
        ConsumerSettings()

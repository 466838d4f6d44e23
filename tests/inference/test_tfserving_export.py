"""`cellkiosk export-tfserving`: the model store laid out for TF Serving, read back with the official
config proto and served by the stand-in server run as the compose stack runs it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from cellkiosk.cli import main as cli_main
from cellkiosk.core.embedded import free_port
from cellkiosk.core.errors import BadInputError
from cellkiosk.inference.model_card import ModelCard
from cellkiosk.inference.prediction_server import parse_batching, read_models_config
from cellkiosk.inference.store import ModelStore
from cellkiosk.inference.tfserving import TFServingPredictor
from cellkiosk.inference.tfserving_export import BATCHING_FILE, MODELS_CONFIG, BatchingParameters, export_tfserving
from tests.fixtures.platform import MODELS_DIR


@pytest.fixture
def store(tiny_model_dir: Path, tmp_path: Path) -> Path:
    """A store with the tiny model as versions 1 and 3 and a tracking card that runs it."""
    root = tmp_path / "store"
    for version in ("1", "3"):
        target = root / "tiny" / version
        shutil.copytree(tiny_model_dir, target)
        card = ModelCard.read(target).model_copy(update={"version": version})
        card.write(target)
    tracking = root / "tracks" / "1"
    tracking.mkdir(parents=True)
    (tracking / "model.yaml").write_text(
        yaml.safe_dump({"name": "tracks", "version": "1", "job_type": "tracking", "segmentation_model": "tiny:1"})
    )
    return root


def test_every_version_with_a_saved_model_is_laid_out(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "export"
    cards = export_tfserving(store, out, base_path="/models", batching=BatchingParameters(max_batch_size=8))
    assert [(c.name, c.version) for c in cards] == [("tiny", "1"), ("tiny", "3")]
    assert (out / "tiny" / "1" / "saved_model.pb").is_file() and (out / "tiny" / "3" / "variables").is_dir()
    assert not (out / "tracks").exists()  # runs another model: nothing to serve
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    config = text_format.Parse((out / MODELS_CONFIG).read_text(), model_server_config_pb2.ModelServerConfig())
    (entry,) = config.model_config_list.config
    assert (entry.name, entry.base_path, entry.model_platform) == ("tiny", "/models/tiny", "tensorflow")
    assert entry.model_version_policy.WhichOneof("policy_choice") == "all"
    assert parse_batching((out / BATCHING_FILE).read_text()).max_batch_size == 8
    assert "pad_variable_length_inputs: true" in (out / BATCHING_FILE).read_text()


def test_the_shipped_store_exports_whatever_it_holds(tmp_path: Path) -> None:
    out = tmp_path / "export"
    assert cli_main(["export-tfserving", str(out), "--models-dir", str(MODELS_DIR)]) == 0
    expected = {(c.name, c.version) for c in ModelStore(MODELS_DIR).cards() if c.segmentation_model is None}
    served = read_models_config(out / MODELS_CONFIG)
    assert expected <= {(name, str(v)) for name, versions in served.items() for v in versions}


@pytest.mark.parametrize(
    ("folder", "card_version", "expected"),
    [("latest", "latest", "integer versions"), ("2", "1", "card says version '1'")],
)
def test_versions_tf_serving_cannot_serve_are_refused(
    tiny_model_dir: Path, tmp_path: Path, folder: str, card_version: str, expected: str
) -> None:
    target = tmp_path / "store" / "tiny" / folder
    shutil.copytree(tiny_model_dir, target)
    ModelCard.read(target).model_copy(update={"version": card_version}).write(target)
    with pytest.raises(BadInputError, match=expected):
        export_tfserving(tmp_path / "store", tmp_path / "out")


def test_a_non_empty_target_or_an_empty_store_is_refused(store: Path, tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("keep me")
    with pytest.raises(BadInputError, match="not an empty folder"):
        export_tfserving(store, tmp_path / "full")
    with pytest.raises(BadInputError, match="no model with a SavedModel"):
        export_tfserving(tmp_path / "nothing", tmp_path / "out")
    assert cli_main(["export-tfserving", str(tmp_path / "full"), "--models-dir", str(store)]) == 2


@pytest.mark.slow
def test_the_stand_in_serves_an_export_as_the_compose_stack_runs_it(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "export"
    export_tfserving(store, out, batching=BatchingParameters(max_batch_size=4))
    port = free_port()
    cmd = [sys.executable, "-m", "cellkiosk.inference.prediction_server", f"--port={port}", "--rest_api_port=0",
           f"--model_config_file={out / MODELS_CONFIG}", "--enable_batching=true",
           f"--batching_parameters_file={out / BATCHING_FILE}"]  # fmt: skip
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    client = TFServingPredictor(f"127.0.0.1:{port}", give_up_s=90, pin_version=True)
    try:
        for version in ("1", "3"):
            card = ModelCard.read(store / "tiny" / version)
            client.check_model(card)  # waits for the server to load, then compares signatures
        heads = client.predict(card, np.zeros((6, 32, 32, 1), np.float32))
        assert heads.shape == (6, 32, 32, 2)
        assert client.max_batch_size == 4  # learnt from the refusal of 6
        gone = card.model_copy(update={"version": "2"})
        with pytest.raises(RuntimeError, match="does not serve model 'tiny' version '2'"):
            client.check_model(gone)
    finally:
        client.close()
        server.terminate()
        server.wait(30)
    assert server.returncode == 0, server.stderr.read().decode()[-2000:] if server.stderr else ""


def test_the_stand_in_refuses_flags_it_does_not_honour() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cellkiosk.inference.prediction_server", "--port=1", "--model_config_file=x",
         "--tensorflow_intra_op_parallelism=2"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and "unrecognized arguments" in done.stderr

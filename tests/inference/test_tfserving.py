"""TFServingPredictor against a real gRPC PredictionService serving an exported SavedModel."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from cellkiosk.core.errors import UnavailableError
from cellkiosk.inference.model_card import ModelCard
from cellkiosk.inference.predictor import LocalPredictor
from cellkiosk.inference.tfserving import TFServingPredictor, fill_tensor_proto, tensor_proto_to_array


@pytest.fixture
def card(tiny_model_dir: Path) -> ModelCard:
    return ModelCard.read(tiny_model_dir)


@pytest.fixture
def predictor(tfserving_address: str) -> Iterator[TFServingPredictor]:
    client = TFServingPredictor(tfserving_address, timeout_s=30.0)
    yield client
    client.close()


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_matches_local_predictor(predictor: TFServingPredictor, card: ModelCard) -> None:
    batch = np.random.default_rng(0).random((2, 64, 48, 1), dtype=np.float32)
    remote = predictor.predict(card, batch)
    local = LocalPredictor().predict(card, batch)
    assert remote.dtype == np.float32
    assert remote.shape == (2, 64, 48, 2)
    np.testing.assert_allclose(remote, local, atol=1e-5)


def test_megapixel_batch_fits_in_one_message(predictor: TFServingPredictor, card: ModelCard) -> None:
    batch = np.random.default_rng(1).random((1, 1024, 1024, 1), dtype=np.float32)  # 4 MiB in, 8 MiB out
    heads = predictor.predict(card, batch)
    assert heads.shape == (1, 1024, 1024, 2)
    assert np.isfinite(heads).all()


def test_pinned_version(tfserving_address: str, card: ModelCard) -> None:
    client = TFServingPredictor(tfserving_address, pin_version=True)
    try:
        assert client.predict(card, np.zeros((1, 16, 16, 1), np.float32)).shape == (1, 16, 16, 2)
        with pytest.raises(RuntimeError, match="version '2'"):
            client.predict(card.model_copy(update={"version": "2"}), np.zeros((1, 16, 16, 1), np.float32))
    finally:
        client.close()


def test_unknown_model_is_an_operator_error(predictor: TFServingPredictor, card: ModelCard) -> None:
    unknown = card.model_copy(update={"name": "no-such-model"})
    with pytest.raises(RuntimeError, match="no-such-model") as info:
        predictor.predict(unknown, np.zeros((1, 16, 16, 1), np.float32))
    assert not isinstance(info.value, UnavailableError)
    assert predictor.address in str(info.value)


@pytest.mark.slow
def test_unreachable_past_the_deadline_fails_naming_the_address(card: ModelCard) -> None:
    address = f"127.0.0.1:{_closed_port()}"
    client = TFServingPredictor(address, timeout_s=1.0, give_up_s=1.5)
    start = time.monotonic()
    try:
        with pytest.raises(UnavailableError, match=address) as info:
            client.predict(card, np.zeros((1, 16, 16, 1), np.float32))
    finally:
        client.close()
    assert "UNAVAILABLE" in str(info.value)
    assert 1.5 <= time.monotonic() - start < 6.0


def test_float_val_and_tensor_content_decode_alike() -> None:
    from tensorflow.core.framework import tensor_pb2

    array = np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 7
    packed = tensor_pb2.TensorProto()
    fill_tensor_proto(packed, array)
    listed = tensor_pb2.TensorProto()
    listed.CopyFrom(packed)
    listed.ClearField("tensor_content")
    listed.float_val.extend(array.ravel().tolist())
    np.testing.assert_array_equal(tensor_proto_to_array(packed), array)
    np.testing.assert_array_equal(tensor_proto_to_array(listed), array)

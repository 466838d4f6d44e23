"""TFServingPredictor under a server that refuses, is busy, is down for a while, or serves another model."""

from __future__ import annotations

import logging
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from cellkiosk.inference.model_card import ModelCard
from cellkiosk.inference.prediction_server import Limits
from cellkiosk.inference.predictor import LocalPredictor
from cellkiosk.inference.tfserving import TFServingPredictor
from tests.fixtures.tfserving import STOP_GRACE_S, start_prediction_server

RETRY_LOG = "TF Serving busy or unreachable, retrying"


@pytest.fixture
def card(tiny_model_dir: Path) -> ModelCard:
    return ModelCard.read(tiny_model_dir)


def _batch(n: int, size: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, size, size, 1), dtype=np.float32)


def _retry_codes(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [getattr(r, "code", "") for r in caplog.records if r.getMessage() == RETRY_LOG]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_served_signature_matches_the_card(tfserving_address: str, card: ModelCard) -> None:
    client = TFServingPredictor(tfserving_address, pin_version=True)
    try:
        client.check_model(card)
    finally:
        client.close()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"inputs": {"channels": [{"name": "a"}, {"name": "b"}]}}, "has 1 channels, the card says 2"),
        ({"outputs": {"heads": ["foreground", "inner_distance"], "output_key": "logits"}}, "not 'logits'"),
        ({"outputs": {"heads": ["foreground"]}}, "output 'heads' has 2 channels, the card says 1"),
        ({"outputs": {"heads": ["foreground", "inner_distance"], "signature": "predict"}}, "no signature 'predict'"),
    ],
)
def test_a_card_that_disagrees_with_the_served_model_fails_loudly(
    tfserving_address: str, card: ModelCard, change: dict[str, object], expected: str
) -> None:
    data = card.model_dump()
    data.update(change)
    other = ModelCard.model_validate(data)
    client = TFServingPredictor(tfserving_address)
    try:
        with pytest.raises(RuntimeError, match="another signature than its model card says") as info:
            client.check_model(other)
    finally:
        client.close()
    assert expected in str(info.value)
    assert tfserving_address in str(info.value)


@pytest.mark.slow
def test_batches_are_split_to_the_servers_max_batch_size(
    tiny_model_dir: Path, card: ModelCard, caplog: pytest.LogCaptureFixture
) -> None:
    server, port = start_prediction_server({"tiny": tiny_model_dir / "saved_model"}, Limits(max_batch_size=2))
    learnt = TFServingPredictor(f"127.0.0.1:{port}")
    told = TFServingPredictor(f"127.0.0.1:{port}", max_batch_size=2)
    try:
        batch = _batch(5)
        expected = LocalPredictor().predict(card, batch)
        with caplog.at_level(logging.WARNING, logger="cellkiosk.inference.tfserving"):
            np.testing.assert_allclose(told.predict(card, batch), expected, atol=1e-5)
            assert not [r for r in caplog.records if "max_batch_size" in r.getMessage()]
            np.testing.assert_allclose(learnt.predict(card, batch), expected, atol=1e-5)
        assert learnt.max_batch_size == 2  # learnt from "Task size 5 is larger than maximum input batch size 2"
        assert [r for r in caplog.records if "max_batch_size" in r.getMessage()]
    finally:
        learnt.close()
        told.close()
        server.stop(STOP_GRACE_S).wait()


def test_a_busy_server_slows_jobs_down_instead_of_failing_them(
    tiny_model_dir: Path, card: ModelCard, caplog: pytest.LogCaptureFixture
) -> None:
    # One request at a time, no queue: every concurrent one is refused with RESOURCE_EXHAUSTED.
    limits = Limits(num_batch_threads=1, max_enqueued_batches=0)
    server, port = start_prediction_server({"tiny": tiny_model_dir / "saved_model"}, limits)
    client = TFServingPredictor(f"127.0.0.1:{port}", give_up_s=60, backoff_max_s=0.5)
    results: dict[int, np.ndarray] = {}
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            results[i] = client.predict(card, _batch(2, 128, seed=i))
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    try:
        with caplog.at_level(logging.WARNING, logger="cellkiosk.inference.tfserving"):
            threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
    finally:
        client.close()
        server.stop(STOP_GRACE_S).wait()
    assert not errors
    assert sorted(results) == list(range(6))
    assert "RESOURCE_EXHAUSTED" in _retry_codes(caplog)  # the server did push back


@pytest.mark.slow
def test_a_server_back_within_the_deadline_is_waited_for(
    tiny_model_dir: Path, card: ModelCard, caplog: pytest.LogCaptureFixture
) -> None:
    port = _free_port()
    client = TFServingPredictor(f"127.0.0.1:{port}", give_up_s=30, backoff_max_s=1.0)
    started: list[object] = []

    def start_late() -> None:
        time.sleep(2.0)
        started.append(start_prediction_server({"tiny": tiny_model_dir / "saved_model"}, port=port)[0])

    late = threading.Thread(target=start_late)
    late.start()
    try:
        with caplog.at_level(logging.WARNING, logger="cellkiosk.inference.tfserving"):
            heads = client.predict(card, _batch(1))
    finally:
        late.join()
        client.close()
        for server in started:
            server.stop(STOP_GRACE_S).wait()  # type: ignore[attr-defined]
    assert heads.shape == (1, 32, 32, 2)
    assert "UNAVAILABLE" in _retry_codes(caplog)


@pytest.mark.slow
def test_a_call_past_its_deadline_is_retried_with_a_longer_one(
    tfserving_address: str, card: ModelCard, caplog: pytest.LogCaptureFixture
) -> None:
    client = TFServingPredictor(tfserving_address, timeout_s=0.002, give_up_s=30, backoff_max_s=0.2)
    try:
        with caplog.at_level(logging.WARNING, logger="cellkiosk.inference.tfserving"):
            heads = client.predict(card, _batch(2, 256))
    finally:
        client.close()
    assert heads.shape == (2, 256, 256, 2)
    assert "DEADLINE_EXCEEDED" in _retry_codes(caplog)

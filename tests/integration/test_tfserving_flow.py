"""Jobs on the TF Serving path: a consumer whose predictor is gRPC, against the shipped model served by
the PredictionService stand-in, and against an address where nothing answers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from cellkiosk.consumer.__main__ import check_served_models
from cellkiosk.consumer.pipelines import Services
from cellkiosk.consumer.worker import Worker
from cellkiosk.core.embedded import free_port
from cellkiosk.inference.store import ModelStore
from cellkiosk.inference.tfserving import TFServingPredictor
from tests.fixtures.platform import MODELS_DIR, Platform
from tests.fixtures.tfserving import STOP_GRACE_S, start_prediction_server
from tests.integration.conftest import VAL_SMALL, val_png


@pytest.fixture(scope="module")
def bare(make_platform: Any) -> Platform:
    """A gateway and queue with no consumer; each test starts its own."""
    return make_platform(workers=0)  # type: ignore[no-any-return]


@contextmanager
def running_worker(platform: Platform, predictor: TFServingPredictor, name: str) -> Iterator[Worker]:
    """A consumer loop in a thread using ``predictor``; stopped (and the channel closed) on exit."""
    settings = platform.consumer_settings.model_copy(update={"consumer_name": name})
    services = Services(ModelStore(MODELS_DIR), predictor, "tf-serving")
    worker = Worker(settings, platform.queue, platform.storage, services)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        worker.stop.set()
        thread.join(30)
        predictor.close()


@pytest.fixture
def served_worker(bare: Platform) -> Iterator[Worker]:
    """A consumer on TF Serving's API, serving whatever versions the shipped store's newest cards are."""
    store = ModelStore(MODELS_DIR)
    served = {c.name: c.saved_model_path for c in store.cards() if c.segmentation_model is None}
    server, port = start_prediction_server(served)
    predictor = TFServingPredictor(f"127.0.0.1:{port}", pin_version=True)
    check_served_models(predictor, store)
    try:
        with running_worker(bare, predictor, "tfserving-ok") as worker:
            yield worker
    finally:
        server.stop(STOP_GRACE_S).wait()


def test_tfserving_segmentation_job(bare: Platform, served_worker: Worker) -> None:
    job = bare.wait(bare.submit(bare.upload(val_png(VAL_SMALL))), timeout_s=120)
    assert job["status"] == "done", job
    assert b'"tf-serving"' in bare.http.get(f"/api/jobs/{job['id']}/files/job.json").content


def test_tfserving_unreachable_fails_the_job_naming_the_address(bare: Platform) -> None:
    address = f"127.0.0.1:{free_port()}"
    predictor = TFServingPredictor(address, timeout_s=1.0, give_up_s=2.0)
    with running_worker(bare, predictor, "tfserving-down"):
        job = bare.wait(bare.submit(bare.upload(val_png(VAL_SMALL))), timeout_s=60)
    assert job["status"] == "failed"
    assert f"TF Serving at {address} did not answer for 2 s" in job["error"]


@pytest.mark.slow
def test_tfserving_a_model_the_server_lacks_stops_the_consumer_at_start() -> None:
    store = ModelStore(MODELS_DIR)
    first = next(c for c in store.cards() if c.segmentation_model is None)
    server, port = start_prediction_server({"only-this": first.saved_model_path})
    predictor = TFServingPredictor(f"127.0.0.1:{port}", pin_version=True)
    try:
        with pytest.raises(SystemExit, match=f"does not serve model '{first.name}'"):
            check_served_models(predictor, store)
    finally:
        predictor.close()
        server.stop(STOP_GRACE_S).wait()

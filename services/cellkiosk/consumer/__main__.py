"""``python -m cellkiosk.consumer``: consume one or more job queues."""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys
from typing import TYPE_CHECKING

import redis

from cellkiosk.consumer.pipelines import Services
from cellkiosk.consumer.worker import Worker
from cellkiosk.core.errors import UnavailableError
from cellkiosk.core.jobs import HEARTBEAT_PREFIX
from cellkiosk.core.logs import setup_logging
from cellkiosk.core.queue import JobQueue, connect_redis
from cellkiosk.core.settings import ConsumerSettings
from cellkiosk.core.storage import storage_from_settings
from cellkiosk.core.storage_retry import RetryingStorage
from cellkiosk.imaging.io import limit_decoders
from cellkiosk.inference.predictor import LocalPredictor, Predictor
from cellkiosk.inference.store import ModelStore

if TYPE_CHECKING:
    from cellkiosk.inference.tfserving import TFServingPredictor

log = logging.getLogger("cellkiosk.consumer")


def build_services(settings: ConsumerSettings) -> Services:
    """Model store and predictor: TF Serving when an address is set, else in-process TensorFlow."""
    predictor: Predictor
    store = ModelStore(settings.models_dir)
    if settings.tfserving_address:
        from cellkiosk.inference.tfserving import TFServingPredictor

        served = TFServingPredictor(
            settings.tfserving_address,
            timeout_s=settings.tfserving_timeout_s,
            give_up_s=settings.tfserving_give_up_s,
            max_batch_size=settings.tfserving_max_batch_size,
            pin_version=settings.tfserving_pin_version,
        )
        check_served_models(served, store)
        predictor, name = served, "tf-serving"
    else:
        suffix = "" if settings.precision == "float32" else f"-{settings.precision}"
        predictor, name = LocalPredictor(settings.precision), f"local-tensorflow{suffix}"
    return Services(store, predictor, name)


def check_served_models(predictor: TFServingPredictor, store: ModelStore) -> None:
    """Fail at start, naming the model, when TF Serving does not serve a model of the store as its card says."""
    cards = [c for c in store.cards() if c.segmentation_model is None]
    if not cards:
        raise SystemExit(f"no models in {store.root} (CELLKIOSK_MODELS_DIR)")
    for card in cards:
        try:
            predictor.check_model(card)
        except (RuntimeError, UnavailableError) as exc:
            raise SystemExit(f"consumer not started: {exc}") from exc
        log.info("served model matches its card", extra={"model": card.name, "version": card.version})


def heartbeat_alive(client: redis.Redis, name: str | None) -> bool:
    """Whether the named consumer's heartbeat is live; unnamed: any consumer of this host (a container's)."""
    if name:
        return bool(client.exists(HEARTBEAT_PREFIX + name))
    return any(True for _ in client.scan_iter(f"{HEARTBEAT_PREFIX}{socket.gethostname()}-*", count=1000))


def build_worker(settings: ConsumerSettings) -> Worker:
    """A worker with real clients for ``settings``."""
    if not settings.redis_url:
        raise SystemExit("CELLKIOSK_REDIS_URL is not set (use `cellkiosk up` for the embedded platform)")
    limit_decoders(settings.max_image_pixels)
    storage = RetryingStorage(storage_from_settings(settings), settings.storage_retry_s)
    queue = JobQueue(connect_redis(settings.redis_url))
    return Worker(settings, queue, storage, build_services(settings))


def parse(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options (they override the environment)."""
    parser = argparse.ArgumentParser(prog="cellkiosk consumer", description=__doc__)
    parser.add_argument("--queue", action="append", help="job type to consume (repeatable)")
    parser.add_argument("--name", help="consumer name (unique)")
    parser.add_argument(
        "--check", action="store_true", help="health check: exit 0 if this consumer's heartbeat is live"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run until SIGTERM/SIGINT; the job in hand is finished first."""
    args = parse(argv)
    settings = ConsumerSettings()
    if args.queue:
        settings.queues = args.queue
    if args.name:
        settings.consumer_name = args.name
    setup_logging(settings.log_level, settings.log_json)
    if args.check:
        client = redis.Redis.from_url(settings.redis_url or "redis://127.0.0.1:6379/0", socket_timeout=5)
        return 0 if heartbeat_alive(client, settings.consumer_name) else 1
    worker = build_worker(settings)

    def stop(signum: int, _frame: object) -> None:
        log.info("stopping after the current job", extra={"signal": signum})
        worker.stop.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    worker.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())

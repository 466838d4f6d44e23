"""``python -m cellkiosk.consumer``: consume one or more job queues."""

from __future__ import annotations

import argparse
import logging
import signal
import sys

import redis

from cellkiosk.consumer.pipelines import Services
from cellkiosk.consumer.worker import Worker
from cellkiosk.core.jobs import HEARTBEAT_PREFIX
from cellkiosk.core.logs import setup_logging
from cellkiosk.core.queue import JobQueue, connect_redis
from cellkiosk.core.settings import ConsumerSettings
from cellkiosk.core.storage import storage_from_settings
from cellkiosk.inference.predictor import LocalPredictor, Predictor
from cellkiosk.inference.store import ModelStore

log = logging.getLogger("cellkiosk.consumer")


def build_services(settings: ConsumerSettings) -> Services:
    """Model store and predictor: TF Serving when an address is set, else in-process TensorFlow."""
    predictor: Predictor
    if settings.tfserving_address:
        from cellkiosk.inference.tfserving import TFServingPredictor

        predictor, name = TFServingPredictor(settings.tfserving_address, settings.tfserving_timeout_s), "tf-serving"
    else:
        predictor, name = LocalPredictor(), "local-tensorflow"
    return Services(ModelStore(settings.models_dir), predictor, name)


def build_worker(settings: ConsumerSettings) -> Worker:
    """A worker with real clients for ``settings``."""
    if not settings.redis_url:
        raise SystemExit("CELLKIOSK_REDIS_URL is not set (use `cellkiosk up` for the embedded platform)")
    storage = storage_from_settings(settings)
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
        client = redis.Redis.from_url(settings.redis_url or "redis://127.0.0.1:6379/0")
        return 0 if client.exists(HEARTBEAT_PREFIX + (settings.consumer_name or "")) else 1
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

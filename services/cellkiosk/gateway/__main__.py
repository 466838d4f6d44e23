"""``python -m cellkiosk.gateway``: the HTTP gateway."""

from __future__ import annotations

import logging
import sys

import uvicorn

from cellkiosk.core.logs import setup_logging
from cellkiosk.core.queue import JobQueue, connect_redis
from cellkiosk.core.settings import GatewaySettings
from cellkiosk.core.storage import storage_from_settings
from cellkiosk.gateway.app import create_app
from cellkiosk.inference.store import ModelStore

log = logging.getLogger("cellkiosk.gateway")


def build(settings: GatewaySettings, redis_url: str) -> object:
    """The app with real clients for ``settings``."""
    storage = storage_from_settings(settings)
    queue = JobQueue(connect_redis(redis_url))
    return create_app(settings, queue, storage, ModelStore(settings.models_dir), redis_url)


def main(argv: list[str] | None = None) -> int:
    """Serve the gateway (needs CELLKIOSK_REDIS_URL; `cellkiosk up` sets everything for you)."""
    settings = GatewaySettings()
    setup_logging(settings.log_level, settings.log_json)
    if not settings.redis_url:
        log.error("CELLKIOSK_REDIS_URL is not set (use `cellkiosk up` for the all-in-one embedded platform)")
        return 2
    app = build(settings, settings.redis_url)
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None)  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main())

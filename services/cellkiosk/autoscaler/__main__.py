"""``python -m cellkiosk.autoscaler``: size consumer and TF Serving Deployments from the queues' backlog.

For clusters without KEDA. Settings (``CELLKIOSK_*``, the chart sets them): ``REDIS_URL``,
``TARGETS`` (a JSON list of scale targets), ``PERIOD_S``, ``NAMESPACE``, ``METRICS_PORT``,
``KUBECONFIG`` (else the in-cluster service account), ``DRY_RUN``.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from prometheus_client import start_http_server
from pydantic import ValidationError

from cellkiosk.autoscaler.backlog import BacklogReader
from cellkiosk.autoscaler.kube import KubeScaleClient
from cellkiosk.autoscaler.loop import Autoscaler
from cellkiosk.autoscaler.metrics import AutoscalerMetrics
from cellkiosk.core.logs import setup_logging
from cellkiosk.core.queue import connect_redis
from cellkiosk.core.settings import AutoscalerSettings

log = logging.getLogger("cellkiosk.autoscaler")


def load_settings() -> AutoscalerSettings:
    """The settings, or exit 2 naming the bad or missing ``CELLKIOSK_`` variable."""
    try:
        settings = AutoscalerSettings()
    except ValidationError as exc:
        names = sorted({"CELLKIOSK_" + str(e["loc"][0]).upper() for e in exc.errors() if e["loc"]})
        raise SystemExit(f"cellkiosk autoscaler: bad or missing {', '.join(names)}:\n{exc}") from None
    if not settings.redis_url:
        raise SystemExit("cellkiosk autoscaler: CELLKIOSK_REDIS_URL is not set")
    return settings


def main(argv: list[str] | None = None) -> int:
    """Run the control loop until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog="cellkiosk autoscaler", description=__doc__)
    parser.add_argument("--dry-run", action="store_true", help="decide and log, never patch")
    args = parser.parse_args(argv)
    settings = load_settings()
    setup_logging(settings.log_level, settings.log_json)
    assert settings.redis_url  # load_settings checked it
    metrics = AutoscalerMetrics()
    autoscaler = Autoscaler(
        settings.targets,
        BacklogReader(connect_redis(settings.redis_url, socket_timeout_s=10.0)),
        KubeScaleClient(settings.namespace, settings.kubeconfig),
        metrics,
        dry_run=settings.dry_run or args.dry_run,
    )
    start_http_server(settings.metrics_port, registry=metrics.registry)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: stop.set())
    log.info(
        "autoscaler started",
        extra={"targets": [t.deployment for t in settings.targets], "period_s": settings.period_s},
    )
    autoscaler.run(settings.period_s, stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())

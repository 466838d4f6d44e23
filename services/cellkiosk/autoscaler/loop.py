"""The control loop: every period, read the backlog, decide each target's replicas, patch what changed.

Redis unreachable: every target keeps its replicas (the policy's no-data rule), and the log and
``cellkiosk_autoscaler_errors{source="redis"}`` say so. API server unreachable: nothing is
patched, the targets keep their replicas, and the log and ``{source="kubernetes"}`` say so.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable

import redis

from cellkiosk.autoscaler.backlog import BacklogReader
from cellkiosk.autoscaler.kube import ScaleClient, ScaleError
from cellkiosk.autoscaler.metrics import AutoscalerMetrics, decision_kind
from cellkiosk.autoscaler.policy import Decision, PolicyState, decide
from cellkiosk.core.settings import ScaleTarget

log = logging.getLogger("cellkiosk.autoscaler")


class Autoscaler:
    """Sizes the targets' Deployments from the queues' backlog, one period at a time."""

    def __init__(
        self,
        targets: list[ScaleTarget],
        reader: BacklogReader,
        scale: ScaleClient,
        metrics: AutoscalerMetrics,
        clock: Callable[[], float] = time.monotonic,
        dry_run: bool = False,
    ) -> None:
        self.targets = targets
        self.reader = reader
        self.scale = scale
        self.metrics = metrics
        self.clock = clock
        self.dry_run = dry_run
        self.states: dict[str, PolicyState] = {}

    def read_backlogs(self) -> dict[str, int] | None:
        """Backlog of every queue a target serves; None (and a warning) when Redis cannot be read."""
        queues = sorted({q for t in self.targets for q in t.queues})
        try:
            backlogs = self.reader.backlogs(queues)
        except redis.RedisError as exc:
            self.metrics.errors.labels("redis").inc()
            log.warning("redis unreachable: keeping every deployment's replicas", extra={"error": str(exc)})
            return None
        for queue, value in backlogs.items():
            self.metrics.backlog.labels(queue).set(value)
        return backlogs

    def step(self) -> list[Decision]:
        """One period: a decision for every target whose replicas could be read."""
        backlogs = self.read_backlogs()
        now = self.clock()
        decisions, ok = [], backlogs is not None
        for target in self.targets:
            backlog = None if backlogs is None else sum(backlogs[q] for q in target.queues)
            try:
                current = self.scale.get_replicas(target.deployment)
            except ScaleError as exc:
                self._api_down(target, exc)
                ok = False
                continue
            state = dataclasses.replace(self.states.get(target.deployment, PolicyState(current)), replicas=current)
            decision = decide(target, state, backlog, now)
            ok = self._apply(decision) and ok
            decisions.append(decision)
        if ok:
            self.metrics.last_success.set_to_current_time()
        return decisions

    def _apply(self, decision: Decision) -> bool:
        """Log and export a decision, patch the Deployment when it changed; False when the patch failed."""
        self.metrics.record(decision)
        extra = {
            "deployment": decision.deployment, "backlog": decision.backlog, "need": decision.need,
            "previous": decision.previous, "replicas": decision.replicas, "kind": decision_kind(decision),
        }  # fmt: skip
        log.info(decision.reason, extra=extra)
        if decision.changed and not self.dry_run:
            try:
                self.scale.set_replicas(decision.deployment, decision.replicas)
            except ScaleError as exc:
                self._api_down_patch(decision, exc)
                return False
        self.states[decision.deployment] = decision.state
        return True

    def _api_down(self, target: ScaleTarget, exc: ScaleError) -> None:
        self.metrics.errors.labels("kubernetes").inc()
        log.warning("kubernetes API unreachable: keeping the replicas", extra={"deployment": target.deployment,
                                                                                "error": str(exc)})  # fmt: skip

    def _api_down_patch(self, decision: Decision, exc: ScaleError) -> None:
        self.metrics.errors.labels("kubernetes").inc()
        log.warning(
            "could not patch the scale: keeping the replicas, trying again next period",
            extra={"deployment": decision.deployment, "wanted": decision.replicas, "error": str(exc)},
        )

    def run(self, period_s: float, stop: threading.Event) -> None:
        """Step every ``period_s`` until ``stop`` is set."""
        while not stop.is_set():
            started = self.clock()
            try:
                self.step()
            except Exception:  # the loop boundary: log it, keep the replicas, go on next period
                log.exception("autoscaler period failed: keeping the replicas")
            stop.wait(max(0.0, period_s - (self.clock() - started)))

"""Prometheus metrics of the built-in autoscaler: every decision, its reason, and what failed."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from cellkiosk.autoscaler.policy import Decision


class AutoscalerMetrics:
    """Gauges and counters on a registry of their own (served on the metrics port)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.backlog = Gauge("cellkiosk_autoscaler_backlog", "Lag + pending of a queue", ["queue"], registry=r)
        self.desired = Gauge(
            "cellkiosk_autoscaler_desired_replicas", "Replicas chosen for a Deployment", ["deployment"], registry=r
        )
        self.need = Gauge(
            "cellkiosk_autoscaler_needed_replicas", "Replicas the backlog asks for", ["deployment"], registry=r
        )
        self.decisions = Counter(
            "cellkiosk_autoscaler_decisions", "Decisions by kind", ["deployment", "kind"], registry=r
        )
        self.errors = Counter(
            "cellkiosk_autoscaler_errors", "Failed reads or patches", ["source"], registry=r
        )  # source: redis | kubernetes
        self.last_success = Gauge(
            "cellkiosk_autoscaler_last_success_timestamp_seconds",
            "When a period last read the backlog and applied every decision",
            registry=r,
        )

    def record(self, decision: Decision) -> None:
        """Export one decision (its kind is the first word of its reason)."""
        self.desired.labels(decision.deployment).set(decision.replicas)
        if decision.need is not None:
            self.need.labels(decision.deployment).set(decision.need)
        self.decisions.labels(decision.deployment, decision_kind(decision)).inc()


def decision_kind(decision: Decision) -> str:
    """A short label for a decision: up, down, zero, hold, steady, no-data, above-max."""
    if decision.backlog is None:
        return "no-data"
    if decision.replicas > decision.previous:
        return "up"
    if decision.replicas < decision.previous:
        return "zero" if decision.replicas == 0 else ("above-max" if decision.reason.startswith("above") else "down")
    return "steady" if decision.reason.startswith("steady") else "hold"

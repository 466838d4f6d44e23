"""Prometheus metrics: cluster-wide numbers read from Redis at scrape time, plus this gateway's own."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily
from prometheus_client.registry import Collector

from cellkiosk.core.jobs import JobType
from cellkiosk.core.queue import JobQueue


class QueueCollector(Collector):
    """Jobs by type and status, stage durations and queue depth, from Redis."""

    def __init__(self, queue: JobQueue) -> None:
        self.queue = queue

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | SummaryMetricFamily]:
        """Read the counters every scrape (cheap: two HGETALLs and one XINFO per type)."""
        jobs, stages = self.queue.stats()
        family = CounterMetricFamily(
            "cellkiosk_jobs", "Jobs created and finished, by type and status", labels=["type", "status"]
        )
        for key, value in sorted(jobs.items()):
            job_type, status = key.split("|", 1)
            family.add_metric([job_type, status], float(value))
        yield family
        summary = SummaryMetricFamily("cellkiosk_stage_seconds", "Time spent per job stage", labels=["type", "stage"])
        for key in sorted(k for k in stages if k.endswith("|sum")):
            job_type, stage, _ = key.split("|")
            count = float(stages.get(f"{job_type}|{stage}|count", 0))
            summary.add_metric([job_type, stage], count_value=int(count), sum_value=float(stages[key]))
        yield summary
        depth = GaugeMetricFamily("cellkiosk_queue_depth", "Messages waiting or in progress", labels=["type"])
        for job_type in JobType:
            depth.add_metric([job_type.value], float(self.queue.depth(job_type.value)))
        yield depth
        alive = GaugeMetricFamily("cellkiosk_consumers_alive", "Consumers with a live heartbeat")
        alive.add_metric([], float(len(self.queue.consumers_alive())))
        yield alive


class GatewayMetrics:
    """This gateway's registry."""

    def __init__(self, queue: JobQueue) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(QueueCollector(queue))
        self.upload_bytes = Counter("cellkiosk_upload_bytes", "Bytes received in uploads", registry=self.registry)
        self.uploads = Counter("cellkiosk_uploads", "Uploads received", ["outcome"], registry=self.registry)

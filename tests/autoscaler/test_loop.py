"""The autoscaler's Redis side against a real valkey-server; the Kubernetes side through a Deployment table.

No kube-apiserver can run here: the loop is given a ``ScaleClient`` that keeps replicas in a dict
(what the API server's scale subresource does), and ``test_kube.py`` checks the real client's
requests on the wire.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from cellkiosk.autoscaler.backlog import BacklogReader
from cellkiosk.autoscaler.kube import ScaleError
from cellkiosk.autoscaler.loop import Autoscaler
from cellkiosk.autoscaler.metrics import AutoscalerMetrics
from cellkiosk.core.embedded import EmbeddedValkey
from cellkiosk.core.jobs import Job, JobType
from cellkiosk.core.queue import JobQueue
from cellkiosk.core.settings import ScaleTarget


class Deployments:
    """Replicas by Deployment name, as the API server's scale subresource keeps them; can be 'down'."""

    def __init__(self, **replicas: int) -> None:
        self.replicas = dict(replicas)
        self.down = False
        self.patches: list[tuple[str, int]] = []

    def get_replicas(self, deployment: str) -> int:
        if self.down:
            raise ScaleError(f"get scale of deployment test/{deployment}: connection refused")
        return self.replicas[deployment]

    def set_replicas(self, deployment: str, replicas: int) -> None:
        if self.down:
            raise ScaleError(f"patch scale of deployment test/{deployment}: connection refused")
        self.patches.append((deployment, replicas))
        self.replicas[deployment] = replicas


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


TARGETS = [
    ScaleTarget(deployment="consumer-segmentation", queues=["segmentation"], items_per_replica=2, max_replicas=5),
    ScaleTarget(
        deployment="tfserving",
        queues=["segmentation", "tracking"],
        items_per_replica=10,
        max_replicas=2,
        idle_cooldown_s=60,
        scale_down_window_s=0,
    ),  # fmt: skip
]


@dataclass
class Rig:
    """An autoscaler over the TARGETS with a Deployment table, a hand-moved clock and its own metrics."""

    scaler: Autoscaler
    deployments: Deployments
    clock: Clock
    metrics: AutoscalerMetrics


def rig(client: redis.Redis, consumers: int = 0, tfserving: int = 0, dry_run: bool = False) -> Rig:
    deployments = Deployments(**{"consumer-segmentation": consumers, "tfserving": tfserving})
    clock, metrics = Clock(), AutoscalerMetrics()
    return Rig(
        Autoscaler(TARGETS, BacklogReader(client), deployments, metrics, clock, dry_run), deployments, clock, metrics
    )


def queue_jobs(queue: JobQueue, job_type: str, n: int) -> None:
    for _ in range(n):
        queue.create(Job(type=job_type, model="nuclear", input="uploads/x/a.tif"))


def test_backlog_is_lag_plus_pending(client: redis.Redis) -> None:
    queue, reader = JobQueue(client), BacklogReader(client)
    assert reader.backlog("segmentation") == 0  # no stream yet
    queue_jobs(queue, "segmentation", 5)
    assert reader.backlog("segmentation") == 5  # no group yet: every entry waits
    queue.ensure_group("segmentation")
    first = queue.claim("segmentation", "c1", block_ms=100, visibility_timeout_s=60)
    second = queue.claim("segmentation", "c2", block_ms=100, visibility_timeout_s=60)
    assert first and second
    assert reader.backlog("segmentation") == 5  # 3 lagging + 2 in hand
    queue.ack(first)
    assert reader.backlog("segmentation") == 4
    assert reader.backlogs(["segmentation", "tracking"]) == {"segmentation": 4, "tracking": 0}


def test_the_loop_scales_from_the_queue_and_back_to_zero(client: redis.Redis) -> None:
    queue = JobQueue(client)
    queue.ensure_group("segmentation")
    r = rig(client)
    scaler, deployments, clock, metrics = r.scaler, r.deployments, r.clock, r.metrics
    scaler.step()
    assert deployments.patches == []  # nothing to do
    queue_jobs(queue, "segmentation", 7)
    scaler.step()
    assert deployments.replicas == {"consumer-segmentation": 4, "tfserving": 1}  # ceil(7/2), ceil(7/10)
    while (delivery := queue.claim("segmentation", "c1", block_ms=100, visibility_timeout_s=60)) is not None:
        if delivery.job_id != "keep":
            queue.ack(delivery)
        last = delivery
    queue.redis.xadd("queue:segmentation", {"job": "keep", "action": "run"})
    held = queue.claim("segmentation", "c1", block_ms=100, visibility_timeout_s=60)
    assert held and last
    for _ in range(20):  # one job in hand for 5 minutes: TF Serving stays up, consumers come down to one
        clock.now += 15
        scaler.step()
    assert deployments.replicas == {"consumer-segmentation": 1, "tfserving": 1}
    queue.ack(held)
    clock.now += 15
    scaler.step()
    assert deployments.replicas["tfserving"] == 1  # idle, but not for the 60 s cooldown yet
    clock.now += 60
    scaler.step()
    assert deployments.replicas == {"consumer-segmentation": 1, "tfserving": 0}  # consumers' cooldown is 300 s
    sample = metrics.registry.get_sample_value
    assert sample("cellkiosk_autoscaler_desired_replicas", {"deployment": "tfserving"}) == 0
    assert sample("cellkiosk_autoscaler_decisions_total", {"deployment": "tfserving", "kind": "zero"}) == 1
    assert sample("cellkiosk_autoscaler_backlog", {"queue": "segmentation"}) == 0


def test_redis_down_keeps_the_replicas_and_says_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    server = EmbeddedValkey(tmp_path, durable=False).start()
    client = redis.Redis.from_url(server.url, decode_responses=True, socket_timeout=2, socket_connect_timeout=1)
    queue_jobs(JobQueue(client), "segmentation", 9)
    r = rig(client)
    scaler, deployments, clock, metrics = r.scaler, r.deployments, r.clock, r.metrics
    scaler.step()
    assert deployments.replicas == {"consumer-segmentation": 5, "tfserving": 1}
    server.stop()
    caplog.set_level(logging.INFO, logger="cellkiosk.autoscaler")
    for _ in range(40):  # 10 minutes without Redis: far past every cooldown, and nothing moves
        clock.now += 15
        decisions = scaler.step()
        assert all(d.backlog is None and not d.changed for d in decisions)
    assert deployments.replicas == {"consumer-segmentation": 5, "tfserving": 1}
    assert "redis unreachable: keeping every deployment's replicas" in caplog.text
    assert "no backlog reading: keeping 5 replicas" in caplog.text
    assert metrics.registry.get_sample_value("cellkiosk_autoscaler_errors_total", {"source": "redis"}) == 40


def test_api_server_down_patches_nothing_and_recovers(client: redis.Redis, caplog: pytest.LogCaptureFixture) -> None:
    r = rig(client, consumers=2, tfserving=1)
    scaler, deployments, clock, metrics = r.scaler, r.deployments, r.clock, r.metrics
    queue_jobs(JobQueue(client), "segmentation", 30)
    deployments.down = True
    caplog.set_level(logging.INFO, logger="cellkiosk.autoscaler")
    assert scaler.step() == []
    assert "kubernetes API unreachable: keeping the replicas" in caplog.text
    assert metrics.registry.get_sample_value("cellkiosk_autoscaler_last_success_timestamp_seconds") == 0
    deployments.down = False
    clock.now += 15
    scaler.step()
    assert deployments.replicas == {"consumer-segmentation": 5, "tfserving": 2}
    assert metrics.registry.get_sample_value("cellkiosk_autoscaler_errors_total", {"source": "kubernetes"}) == 2


def test_a_failed_patch_is_tried_again(client: redis.Redis) -> None:
    queue_jobs(JobQueue(client), JobType.TRACKING.value, 3)

    class PatchFails(Deployments):
        failures = 1

        def set_replicas(self, deployment: str, replicas: int) -> None:
            if self.failures:
                self.failures -= 1
                raise ScaleError("patch scale of deployment test/tfserving: Forbidden")
            super().set_replicas(deployment, replicas)

    deployments = PatchFails(**{"consumer-segmentation": 0, "tfserving": 0})
    scaler = Autoscaler(TARGETS, BacklogReader(client), deployments, AutoscalerMetrics(), Clock())
    scaler.step()
    assert deployments.replicas["tfserving"] == 0
    scaler.step()
    assert deployments.replicas["tfserving"] == 1


def test_dry_run_decides_but_never_patches(client: redis.Redis) -> None:
    queue_jobs(JobQueue(client), "segmentation", 3)
    r = rig(client, dry_run=True)
    assert [d.replicas for d in r.scaler.step()] == [2, 1] and r.deployments.patches == []

"""A discrete-event simulation of a workload on Kubernetes, scaled by the autoscaler's own policy.

Model (every number comes from the :class:`~cellkiosk.autoscaler.scenario.Scenario`):

* Images wait in the queue (the stream's lag). A Ready consumer takes one, spends
  ``consumer_pre_s`` on its CPU, then asks TF Serving: it waits, FIFO, for a Ready replica, which
  spends ``gpu_s_per_mp x (image_mp + size_window_mp)``; then ``postprocess x image_mp +
  consumer_post_s`` on its CPU; then the image is done and counted. A consumer holds one image.
* Every ``period_s`` the policy (:func:`~cellkiosk.autoscaler.policy.decide`) sets each
  Deployment's replicas from the backlog (waiting + in hand: lag + pending).
* A new pod goes to a node of its pool with room; if none, the cluster autoscaler requests a node
  (``node_start_s``, up to ``max_nodes``; beyond it the pod stays Pending). The pod is Ready
  ``pod_start_s`` after its node. A removed pod that holds work finishes it first (SIGTERM).
* A node is billed from its request until it has been empty for ``node_idle_remove_s``.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cellkiosk.autoscaler.policy import PolicyState, decide
from cellkiosk.autoscaler.pools import Node, Pod, Pool
from cellkiosk.autoscaler.scenario import Scenario

MAX_SIMULATED_S = 90 * 86400.0


@dataclass(frozen=True)
class Result:
    """What a run gives: figures, the queue curve, and how often each image was processed."""

    makespan_s: float
    end_s: float
    cost_usd: float
    cost_by_pool_usd: dict[str, float]
    gpu_utilisation: float
    gpu_node_hours: float
    cpu_node_hours: float
    peak: dict[str, int]
    processed: bytes  # processed[i] = how many times image i was finished
    series: list[dict[str, float]]


class Simulation:
    """One run of a scenario; :meth:`run` returns its :class:`Result`."""

    def __init__(self, scenario: Scenario, postprocess_s_per_mp: float) -> None:
        self.s = scenario
        w, svc = scenario.workload, scenario.service
        self.gpu_s = svc.gpu_s_per_mp * (w.image_mp + w.size_window_mp)
        self.pre_s = svc.consumer_pre_s
        self.post_s = postprocess_s_per_mp * w.image_mp + svc.consumer_post_s
        self.now = 0.0
        self.events: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self.seq = itertools.count()
        self.consumers = Pool(scenario.cluster.cpu)
        self.servers = Pool(scenario.cluster.gpu)
        self.arrived = self.taken = self.done = 0
        self.gpu_wait: deque[tuple[Pod, int]] = deque()
        self.processed = bytearray(w.images)
        self.states = {"consumers": PolicyState(0), "tfserving": PolicyState(0)}
        self.series: list[dict[str, float]] = []
        self.makespan_s: float | None = None

    # -- the event queue -------------------------------------------------------
    def at(self, t: float, handler: Callable[..., None], *args: Any) -> None:
        """Run ``handler(*args)`` at time ``t``."""
        heapq.heappush(self.events, (t, next(self.seq), handler, args))

    def run(self) -> Result:
        """Simulate until every image is done and the cluster has shrunk back (or the tail ran out)."""
        w = self.s.workload
        if w.rate_per_s is None:
            self.arrived = w.images
        else:
            self.at(0.0, self.arrive)
        self.at(0.0, self.tick)
        while self.events:
            self.now, _, handler, args = heapq.heappop(self.events)
            if self.makespan_s is not None and self.now > self.makespan_s + self.tail_s():
                break
            if self.now > MAX_SIMULATED_S:
                break  # a cluster that can never finish (no room for any pod): the makespan stays infinite
            handler(*args)
        return self.result()

    def tail_s(self) -> float:
        """How long after the last image the run goes on: every cooldown, then empty nodes removed."""
        targets = (self.s.consumers, self.s.tfserving)
        cooldown = max(t.idle_cooldown_s + t.scale_down_window_s for t in targets)
        return cooldown + self.s.cluster.node_idle_remove_s + 4 * self.s.period_s

    # -- arrivals and the policy -----------------------------------------------
    def arrive(self) -> None:
        """Images submitted by now (one event a second while they come)."""
        w = self.s.workload
        assert w.rate_per_s is not None
        self.arrived = min(w.images, int(w.rate_per_s * self.now) + 1)
        self.feed()
        if self.arrived < w.images:
            self.at(self.now + 1.0, self.arrive)

    def tick(self) -> None:
        """One autoscaler period: decide both Deployments' replicas, scale, record the curve."""
        backlog = (self.arrived - self.taken) + (self.taken - self.done)
        for key, target, pool in (
            ("consumers", self.s.consumers, self.consumers),
            ("tfserving", self.s.tfserving, self.servers),
        ):
            state = PolicyState(pool.replicas(), self.states[key].idle_since_s, self.states[key].recent_need)
            decision = decide(target, state, backlog, self.now)
            self.states[key] = decision.state
            self.scale(pool, decision.replicas)
        self.remove_empty_nodes()
        self.record(backlog)
        if self.makespan_s is None or self.now <= self.makespan_s + self.tail_s():
            self.at(self.now + self.s.period_s, self.tick)

    def record(self, backlog: int) -> None:
        """One row of the curve."""
        self.series.append({
            "t_s": self.now, "waiting": self.arrived - self.taken, "in_hand": self.taken - self.done,
            "done": self.done, "backlog": backlog,
            "consumers": self.consumers.replicas(), "consumers_ready": self.consumers.ready(),
            "tfserving": self.servers.replicas(), "tfserving_ready": self.servers.ready(),
            "gpu_busy": sum(1 for p in self.servers.pods if p.busy),
            "cpu_nodes": self.consumers.live_nodes(), "gpu_nodes": self.servers.live_nodes(),
        })  # fmt: skip

    # -- pods and nodes --------------------------------------------------------
    def scale(self, pool: Pool, replicas: int) -> None:
        """Add or remove pods until the Deployment has ``replicas``."""
        for _ in range(replicas - pool.replicas()):
            pod = Pod(None)
            pool.pods.append(pod)
            self.place(pool, pod)
        excess = pool.replicas() - replicas
        # remove Pending pods first, then idle ones, then busy ones (they finish what they hold)
        order = sorted((p for p in pool.pods if not p.gone and not p.leaving), key=lambda p: (p.ready, p.busy))
        for pod in order[: max(0, excess)]:
            pod.leaving = True
            if not pod.busy:
                self.leave(pool, pod)
        pool.pods = [p for p in pool.pods if not p.gone]
        for pod in pool.pods:  # pods that waited for room get a node freed (or requested) now
            if pod.node is None and not pod.leaving:
                self.place(pool, pod)

    def place(self, pool: Pool, pod: Pod) -> None:
        """Put a pod on a node with room, or request a node for it (within the quota)."""
        live = [n for n in pool.nodes if n.removed_at is None and n.pods < pool.spec.pods_per_node]
        if live:
            node = min(live, key=lambda n: n.ready_at)
        elif pool.live_nodes() < pool.spec.max_nodes:
            node = Node(self.now, self.now + pool.spec.node_start_s)
            pool.nodes.append(node)
        else:
            return  # Pending until a node has room
        node.pods += 1
        node.empty_since = None
        pod.node = node
        pod.ready_at = max(self.now, node.ready_at) + pool.spec.pod_start_s
        self.at(pod.ready_at, self.pod_ready, pool, pod)

    def pod_ready(self, pool: Pool, pod: Pod) -> None:
        if pod.gone:
            return
        pod.ready = True
        self.idle(pool, pod)

    def leave(self, pool: Pool, pod: Pod) -> None:
        """A pod goes; its node may become empty."""
        pod.gone = True
        if pod.node is not None:
            pod.node.pods -= 1
            if pod.node.pods == 0:
                pod.node.empty_since = self.now

    def remove_empty_nodes(self) -> None:
        for pool in (self.consumers, self.servers):
            for node in pool.nodes:
                idle_for = self.now - node.empty_since if node.empty_since is not None else -1.0
                if node.removed_at is None and node.pods == 0 and idle_for >= self.s.cluster.node_idle_remove_s:
                    node.removed_at = self.now

    def idle(self, pool: Pool, pod: Pod) -> None:
        """A pod free for work: it goes if it was scaled down, else it takes the next image or request."""
        pod.busy = False
        if pod.leaving:
            self.leave(pool, pod)
            return
        pool.idle.append(pod)
        if pool is self.consumers:
            self.feed()
        else:
            self.serve()

    # -- work ------------------------------------------------------------------
    def feed(self) -> None:
        """Idle consumers take waiting images."""
        while self.taken < self.arrived and self.consumers.idle:
            pod = self.consumers.idle.popleft()
            if pod.gone or pod.leaving or pod.busy:
                continue
            pod.busy = True
            image, self.taken = self.taken, self.taken + 1
            self.consumers.busy_s += self.pre_s
            self.at(self.now + self.pre_s, self.ask_gpu, pod, image)

    def ask_gpu(self, consumer: Pod, image: int) -> None:
        self.gpu_wait.append((consumer, image))
        self.serve()

    def serve(self) -> None:
        """Idle TF Serving replicas take waiting predict requests."""
        while self.gpu_wait and self.servers.idle:
            server = self.servers.idle.popleft()
            if server.gone or server.leaving or server.busy:
                continue
            consumer, image = self.gpu_wait.popleft()
            server.busy = True
            self.servers.busy_s += self.gpu_s
            self.at(self.now + self.gpu_s, self.predicted, server, consumer, image)

    def predicted(self, server: Pod, consumer: Pod, image: int) -> None:
        self.idle(self.servers, server)
        self.consumers.busy_s += self.post_s
        self.at(self.now + self.post_s, self.finished, consumer, image)

    def finished(self, consumer: Pod, image: int) -> None:
        self.processed[image] += 1
        self.done += 1
        if self.done == self.s.workload.images:
            self.makespan_s = self.now
        self.idle(self.consumers, consumer)

    # -- figures ---------------------------------------------------------------
    def result(self) -> Result:
        end = self.now
        hours = {
            name: sum(((n.removed_at if n.removed_at is not None else end) - n.requested_at) for n in pool.nodes) / 3600
            for name, pool in (("cpu", self.consumers), ("gpu", self.servers))
        }
        cost = {
            "cpu": hours["cpu"] * self.s.cluster.cpu.price_per_h,
            "gpu": hours["gpu"] * self.s.cluster.gpu.price_per_h,
            "base": end / 3600 * self.s.cluster.base_price_per_h,
        }
        peak = {key: int(max((row[key] for row in self.series), default=0)) for key in
                ("consumers", "tfserving", "cpu_nodes", "gpu_nodes")}  # fmt: skip
        return Result(
            makespan_s=self.makespan_s if self.makespan_s is not None else float("inf"),
            end_s=end,
            cost_usd=sum(cost.values()),
            cost_by_pool_usd=cost,
            gpu_utilisation=self.servers.busy_s / (hours["gpu"] * 3600) if hours["gpu"] else 0.0,
            gpu_node_hours=hours["gpu"],
            cpu_node_hours=hours["cpu"],
            peak=peak,
            processed=bytes(self.processed),
            series=self.series,
        )


def simulate(scenario: Scenario, postprocess_s_per_mp: float) -> Result:
    """Run ``scenario`` once (deterministic: the same scenario gives the same result)."""
    return Simulation(scenario, postprocess_s_per_mp).run()

"""The simulator's cluster: nodes of a pool, the pods on them, and each Deployment's pool."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from cellkiosk.autoscaler.scenario import NodePool


@dataclass(eq=False)
class Node:
    """One node of a pool; billed from ``requested_at`` until ``removed_at``."""

    requested_at: float
    ready_at: float
    pods: int = 0
    empty_since: float | None = None
    removed_at: float | None = None


@dataclass(eq=False)
class Pod:
    """A consumer or TF Serving pod."""

    node: Node | None  # None while Pending (no room, quota reached)
    ready_at: float = float("inf")
    ready: bool = False
    busy: bool = False
    leaving: bool = False  # scaled down: goes when its work in hand is done
    gone: bool = False


@dataclass
class Pool:
    """The pods of one Deployment and the nodes of its pool."""

    spec: NodePool
    pods: list[Pod] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    idle: deque[Pod] = field(default_factory=deque)
    busy_s: float = 0.0

    def replicas(self) -> int:
        """The Deployment's ``spec.replicas``: pods neither gone nor leaving."""
        return sum(1 for p in self.pods if not p.gone and not p.leaving)

    def ready(self) -> int:
        """Ready pods that are not leaving."""
        return sum(1 for p in self.pods if p.ready and not p.gone and not p.leaving)

    def live_nodes(self) -> int:
        """Nodes requested and not removed."""
        return sum(1 for n in self.nodes if n.removed_at is None)

"""The scaling policy: replicas of one Deployment from its queues' backlog (a pure function).

The built-in autoscaler and the capacity simulator both call :func:`decide`, so what the
simulator predicts is what the cluster does. Rules, in order:

1. No backlog reading (Redis unreachable): keep the replicas as they are. Never scale on
   missing data.
2. Need = ``ceil(backlog / items_per_replica)``, at least one while there is any backlog
   (pending entries count, so a server stays up while any consumer holds a job), clamped to
   ``[min_replicas, max_replicas]``.
3. Up at once: a need above the replicas is applied in the same period.
4. Down gradually: to the highest need seen in the last ``scale_down_window_s``, removing at
   most ``scale_down_max_fraction`` of the replicas (at least one) a period.
5. The last replica goes (min 0) only after the backlog has been empty for ``idle_cooldown_s``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from cellkiosk.core.settings import ScaleTarget


@dataclass(frozen=True)
class PolicyState:
    """What the policy remembers about one target between two periods."""

    replicas: int
    idle_since_s: float | None = None  # when the backlog was first seen empty; None while busy
    recent_need: tuple[tuple[float, int], ...] = field(default=())  # (time, need) inside the window


@dataclass(frozen=True)
class Decision:
    """The replicas chosen for one target in one period, and why."""

    deployment: str
    previous: int
    replicas: int
    need: int | None  # None without data
    backlog: int | None
    reason: str
    state: PolicyState

    @property
    def changed(self) -> bool:
        """Whether the Deployment's scale must be patched."""
        return self.replicas != self.previous


def need_for(target: ScaleTarget, backlog: int) -> int:
    """Replicas the backlog asks for, within ``[min_replicas, max_replicas]``.

    Parameters
    ----------
    target : ScaleTarget
        The Deployment's policy.
    backlog : int
        Lag plus pending entries of the target's queues (>= 0).

    Returns
    -------
    int
        ``ceil(backlog / items_per_replica)``, at least 1 when ``backlog > 0``, clamped.
    """
    need = math.ceil(backlog / target.items_per_replica) if backlog > 0 else 0
    if backlog > 0:
        need = max(need, 1)
    return min(max(need, target.min_replicas), target.max_replicas)


def decide(target: ScaleTarget, state: PolicyState, backlog: int | None, now_s: float) -> Decision:
    """Replicas for ``target`` this period.

    Parameters
    ----------
    target : ScaleTarget
        The Deployment's policy.
    state : PolicyState
        The previous period's state (``replicas`` is what the Deployment has now).
    backlog : int or None
        Lag plus pending entries of the target's queues; None when it could not be read.
    now_s : float
        The time (seconds, any monotonic origin).

    Returns
    -------
    Decision
        The replicas (never above ``max_replicas``, never below ``min_replicas``; without data
        the current replicas unchanged) with a reason in words and the next state.
    """
    current = state.replicas
    if backlog is None:
        reason = f"no backlog reading: keeping {current} replicas"
        return Decision(target.deployment, current, current, None, None, reason, state)
    need = need_for(target, backlog)
    idle_since = (state.idle_since_s if state.idle_since_s is not None else now_s) if backlog == 0 else None
    window = tuple((t, n) for t, n in state.recent_need if now_s - t < target.scale_down_window_s)
    window = (*window, (now_s, need))
    replicas, reason = _choose(target, current, need, backlog, window, idle_since, now_s)
    next_state = PolicyState(replicas, idle_since, window)
    return Decision(target.deployment, current, replicas, need, backlog, reason, next_state)


def _choose(
    target: ScaleTarget,
    current: int,
    need: int,
    backlog: int,
    window: tuple[tuple[float, int], ...],
    idle_since: float | None,
    now_s: float,
) -> tuple[int, str]:
    """The replicas and the reason, given the need and the recent needs (see the module's rules)."""
    if current > target.max_replicas:
        return target.max_replicas, f"above max: {current} -> {target.max_replicas}"
    if need >= current:
        if need == current:
            return current, f"steady: backlog {backlog} needs {need}"
        return need, f"scale up: backlog {backlog} needs {need} (had {current})"
    held = max(n for _, n in window)  # the highest need in the window: do not flap
    step = max(1, math.floor(current * target.scale_down_max_fraction))
    replicas = max(need, held, current - step)
    if replicas >= current:
        return current, f"holding {current}: needed {held} within {target.scale_down_window_s:g} s"
    if replicas == 0:
        idle_s = now_s - idle_since if idle_since is not None else 0.0
        if idle_s < target.idle_cooldown_s:
            return 1, f"idle {idle_s:.0f} s of {target.idle_cooldown_s:g} s cooldown: keeping 1"
        return 0, f"idle {idle_s:.0f} s: scale to zero"
    return replicas, f"scale down: backlog {backlog} needs {need}, {current} -> {replicas}"

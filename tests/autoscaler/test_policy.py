"""The scaling policy as a pure function, over random queue traces (hypothesis)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cellkiosk.autoscaler.policy import Decision, PolicyState, decide, need_for
from cellkiosk.core.settings import ScaleTarget

PERIOD_S = 15.0


@st.composite
def targets(draw: st.DrawFn) -> ScaleTarget:
    """Any valid target: bounds, items per replica, cooldown and window in whole periods."""
    max_replicas = draw(st.integers(1, 40))
    return ScaleTarget(
        deployment="tfserving",
        queues=["segmentation"],
        items_per_replica=draw(st.floats(0.5, 200)),
        min_replicas=draw(st.integers(0, max_replicas)),
        max_replicas=max_replicas,
        idle_cooldown_s=draw(st.sampled_from([0.0, 60.0, 300.0, 900.0])),
        scale_down_window_s=draw(st.sampled_from([0.0, 30.0, 120.0])),
        scale_down_max_fraction=draw(st.sampled_from([0.1, 0.5, 1.0])),
    )


# A trace: per period, a backlog reading or None (Redis unreachable).
readings = st.one_of(st.none(), st.integers(0, 5000))
traces = st.lists(readings, min_size=1, max_size=120)


def replay(target: ScaleTarget, trace: list[int | None], start: int = 0) -> list[Decision]:
    """Run the policy over a trace, one decision a period, applying each decision."""
    state = PolicyState(replicas=start)
    decisions = []
    for i, backlog in enumerate(trace):
        decision = decide(target, state, backlog, i * PERIOD_S)
        decisions.append(decision)
        state = decision.state
    return decisions


@settings(max_examples=300, deadline=None)
@given(targets(), traces, st.integers(0, 60))
def test_never_above_max_nor_below_min_with_data(target: ScaleTarget, trace: list[int | None], start: int) -> None:
    for decision in replay(target, trace, start):
        if decision.backlog is None:
            continue
        assert target.min_replicas <= decision.replicas <= target.max_replicas, decision


@settings(max_examples=300, deadline=None)
@given(targets(), traces, st.integers(0, 60))
def test_missing_data_keeps_the_replicas(target: ScaleTarget, trace: list[int | None], start: int) -> None:
    for decision in replay(target, trace, start):
        if decision.backlog is None:
            assert decision.replicas == decision.previous and "no backlog reading" in decision.reason


@settings(max_examples=300, deadline=None)
@given(targets(), traces, st.integers(0, 60))
def test_zero_only_after_the_cooldown_with_an_empty_queue(
    target: ScaleTarget, trace: list[int | None], start: int
) -> None:
    decisions = replay(target, trace, start)
    for i, decision in enumerate(decisions):
        if decision.replicas == 0 and decision.previous > 0:
            assert decision.backlog == 0
            # every reading over the cooldown (missing ones too) was an empty queue, none busy
            first_idle = i
            while first_idle > 0 and decisions[first_idle - 1].backlog in (0, None):
                first_idle -= 1
            while decisions[first_idle].backlog is None:
                first_idle += 1
            assert (i - first_idle) * PERIOD_S >= target.idle_cooldown_s, (i, first_idle, decision)


@settings(max_examples=300, deadline=None)
@given(targets(), traces, st.integers(0, 60))
def test_demand_is_reached_within_one_period(target: ScaleTarget, trace: list[int | None], start: int) -> None:
    for decision in replay(target, trace, start):
        if decision.backlog is not None:
            wanted = min(target.max_replicas, math.ceil(decision.backlog / target.items_per_replica))
            assert decision.replicas >= wanted, decision


@settings(max_examples=300, deadline=None)
@given(targets(), st.integers(0, 5000), st.integers(0, 60), st.integers(2, 80))
def test_no_oscillation_on_a_steady_load(target: ScaleTarget, backlog: int, start: int, periods: int) -> None:
    series = [start] + [d.replicas for d in replay(target, [backlog] * periods, start)]
    moves = [b - a for a, b in zip(series, series[1:], strict=False) if b != a]
    assert all(m > 0 for m in moves) or all(m < 0 for m in moves), series  # one direction at most
    if periods * PERIOD_S > target.scale_down_window_s + target.idle_cooldown_s + 60 * PERIOD_S:
        assert series[-1] == series[-2] == need_for(target, backlog)  # and it settles on the need


@settings(max_examples=200, deadline=None)
@given(targets(), st.integers(1, 60), st.integers(1, 5000))
def test_scale_down_is_gradual(target: ScaleTarget, start: int, backlog: int) -> None:
    for decision in replay(target, [backlog] + [0] * 60, start):
        if decision.previous <= target.max_replicas and decision.replicas < decision.previous:
            step = max(1, math.floor(decision.previous * target.scale_down_max_fraction))
            assert decision.previous - decision.replicas <= step, decision


def gpu_target(**overrides: object) -> ScaleTarget:
    values: dict[str, object] = dict(
        deployment="tfserving", queues=["segmentation", "tracking"], items_per_replica=50, max_replicas=8,
        idle_cooldown_s=600, scale_down_window_s=60,
    )  # fmt: skip
    values.update(overrides)
    return ScaleTarget.model_validate(values)


def test_a_worked_example_in_words() -> None:
    target = gpu_target()
    trace: list[int | None] = [0, 1000, 1000, None, 300, 0] + [0] * 60
    decisions = replay(target, trace)
    replicas = [d.replicas for d in decisions]
    assert replicas[:3] == [0, 8, 8]  # idle at zero, then up at once to max (1000 / 50 = 20 > 8)
    assert replicas[3] == 8 and "no backlog reading" in decisions[3].reason
    assert replicas[4] == 8 and "holding" in decisions[4].reason  # 300 needs 6, but 8 was needed 15 s ago
    assert "scale up" in decisions[1].reason and "1000" in decisions[1].reason
    ones = [i for i, r in enumerate(replicas) if r == 1]
    zero = replicas.index(0, 1)
    assert replicas[ones[0] - 1] == 2 and "2 -> 1" in decisions[ones[0]].reason  # 8, 4, 2, 1: gradual
    assert "cooldown" in decisions[ones[1]].reason
    assert (zero - 5) * PERIOD_S >= 600 and "scale to zero" in decisions[zero].reason  # idle since period 5


def test_one_job_in_hand_keeps_one_replica() -> None:
    # a single pending entry (a consumer holds a job) keeps TF Serving up, whatever items_per_replica is
    assert need_for(gpu_target(items_per_replica=1000), 1) == 1
    assert need_for(gpu_target(items_per_replica=1000, min_replicas=2), 0) == 2


def test_a_deployment_scaled_by_hand_above_max_comes_back_to_max() -> None:
    decision = decide(gpu_target(), PolicyState(replicas=20), 5, 0.0)
    assert decision.replicas == 8 and "above max" in decision.reason


def test_bad_bounds_name_the_deployment() -> None:
    with pytest.raises(ValueError, match="tfserving: min_replicas 9 > max_replicas 8"):
        gpu_target(min_replicas=9)

"""The tracker's distances follow the movie's nuclear size when the tracking card gives them for a reference size."""

from __future__ import annotations

import pytest

from cellkiosk.core.params import TrackingJobParams
from cellkiosk.inference.size import SizeChoice
from cellkiosk.inference.store import ModelStore
from cellkiosk.inference.timelapse import movie_diameter, plan_tracking, sized_tracking
from tests.fixtures.platform import MODELS_DIR


def plan_for(params: dict[str, object]):
    return plan_tracking(ModelStore(MODELS_DIR), "tracking:3", TrackingJobParams.model_validate(params))


def test_distances_scale_with_the_nuclei_and_the_job_overrides_do_not() -> None:
    plan = plan_for({"tracking": {"division_max_distance_px": 12.0}})
    reference = plan.card.tracking_diameter_px
    assert reference is not None
    doubled = sized_tracking(plan, 2 * reference)
    assert doubled.max_distance_px == pytest.approx(2 * plan.tracking.max_distance_px)
    assert doubled.division_max_distance_px == 12.0  # the job's own value, in image pixels
    assert doubled.birth_cost == plan.tracking.birth_cost  # costs are dimensionless
    assert sized_tracking(plan, None) == plan.tracking


def test_a_card_without_a_reference_keeps_image_pixels() -> None:
    plan = plan_tracking(ModelStore(MODELS_DIR), "tracking:2", TrackingJobParams())
    assert plan.card.tracking_diameter_px is None
    assert sized_tracking(plan, 200.0) == plan.tracking


def test_movie_diameter_comes_from_the_estimate_or_the_fixed_scale() -> None:
    seg = plan_for({}).seg_card
    assert seg.inputs.diameter_px is not None
    assert movie_diameter(SizeChoice(0.5, 40.0, "estimated"), seg) == 40.0
    assert movie_diameter(SizeChoice(0.5, None, "params.scale"), seg) == pytest.approx(2 * seg.inputs.diameter_px)

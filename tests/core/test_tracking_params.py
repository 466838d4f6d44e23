"""Tracking job params: the gateway's mirror of the tracker's parameters stays in step with them."""

from __future__ import annotations

import pytest

from cellkiosk.core.errors import BadInputError
from cellkiosk.core.params import TrackingJobParams, TrackingOverrides, validate_params
from cellkiosk.tracking.params import TrackingParams


def test_overrides_mirror_every_tracker_parameter_with_its_type_and_bounds() -> None:
    mirror, tracker = TrackingOverrides.model_fields, TrackingParams.model_fields
    assert list(mirror) == list(tracker)
    for name, field in tracker.items():
        assert mirror[name].annotation == field.annotation | None, name
        assert mirror[name].metadata == field.metadata, name  # gt / ge / le bounds
        assert mirror[name].description == field.description, name


def test_overrides_apply_over_the_defaults() -> None:
    params = validate_params("tracking", {"tracking": {"max_distance_px": 12, "divisions": False}, "scale": 0.5})
    assert isinstance(params, TrackingJobParams) and params.scale == 0.5
    merged = TrackingParams.model_validate(
        {**TrackingParams().model_dump(), **params.tracking.model_dump(exclude_none=True)}
    )
    assert merged.max_distance_px == 12 and merged.divisions is False and merged.birth_cost == 1.0


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"tracking": {"max_dist": 9}}, "params.tracking.max_dist: Extra inputs are not permitted"),
        ({"tracking": {"max_distance_px": 0}}, "params.tracking.max_distance_px: Input should be greater than 0"),
        ({"labels": "/etc/passwd"}, "params.labels"),
        ({"scale": 0}, "params.scale"),
        ({"channels": [0], "nope": 1}, "params.nope"),
    ],
)
def test_bad_tracking_params_are_refused_in_words(params: dict[str, object], expected: str) -> None:
    with pytest.raises(BadInputError, match=expected):
        validate_params("tracking", params)

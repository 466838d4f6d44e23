"""Parameters of the tracker, with units in their names; every one overridable per job."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TrackingParams(BaseModel):
    """Search radii, costs and division cues of :func:`cellkiosk.tracking.linking.link`.

    Costs are dimensionless: a frame-to-frame link at ``max_distance_px`` between identical
    objects costs 1.0, so ``birth_cost = death_cost = 1`` accept every gated link unless a
    competing one is cheaper or appearance changes a lot. Unknown keys are rejected, so a
    misspelt override fails loudly instead of being ignored. A division is accepted when its cost
    is below ``birth_cost``: the new daughter it explains would otherwise be a track start.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_distance_px: float = Field(30.0, gt=0, description="frame-to-frame search radius")
    birth_cost: float = Field(1.0, gt=0, description="cost of a track start (no link into an object)")
    death_cost: float = Field(1.0, gt=0, description="cost of a track end (no link out of an object)")
    area_weight: float = Field(1.0, ge=0, description="weight of the relative area change |a-b|/(a+b)")
    intensity_weight: float = Field(0.5, ge=0, description="weight of the relative mean-intensity change")
    max_gap_frames: int = Field(2, ge=0, description="missing frames a track may bridge (0: no gap closing)")
    gap_cost_per_frame: float = Field(0.25, ge=0, description="added to a gap link per missing frame")
    divisions: bool = Field(True, description="detect divisions (one mother, two daughters)")
    division_max_distance_px: float = Field(40.0, gt=0, description="mother to new daughter search radius")
    division_max_area_ratio: float = Field(1.3, gt=0, description="largest daughter area / mother area")
    division_max_asymmetry: float = Field(0.6, ge=0, le=1, description="largest |a1-a2|/(a1+a2) of daughters")
    division_size_weight: float = Field(1.0, ge=0, description="weight of daughter size asymmetry and growth")
    division_intensity_weight: float = Field(0.5, ge=0, description="weight of daughter intensity asymmetry")

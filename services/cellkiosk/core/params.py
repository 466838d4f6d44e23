"""Per-job-type parameters, validated at the gateway and read by the consumer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic.fields import FieldInfo

from cellkiosk.core.errors import BadInputError


class SegmentationParams(BaseModel):
    """Parameters of a segmentation job; every one is optional."""

    model_config = ConfigDict(extra="forbid")

    channels: list[int] | None = Field(
        None, description="channels[i] = input channel (0-based) feeding model input i; default: automatic"
    )
    axes: str | None = Field(
        None, pattern=r"^[TZCYXSQtzcyxsq]+$", description="Axis order of an ambiguous TIFF, e.g. 'CYX' or 'TYX'"
    )
    foreground_threshold: float | None = Field(None, ge=0, le=1, description="Default from the model card")
    seed_threshold: float | None = Field(None, ge=0, le=1, description="Default from the model card")
    split_threshold: float | None = Field(None, ge=0, le=1, description="Split seeds a higher threshold divides")
    min_cell_px: int | None = Field(None, ge=0, description="Remove cells smaller than this (pixels)")
    min_seed_px: int | None = Field(None, ge=0)
    fill_holes: bool | None = None
    min_mean_foreground: float | None = Field(
        None, ge=0, le=1, description="Remove cells whose mean foreground probability is below this"
    )
    tile_px: int | None = Field(None, ge=64, le=4096, description="Tile size for large images; default from card")
    flip_tta: bool = Field(False, description="Average predictions over flips (slower, slightly better)")
    diameter: Literal["auto"] | Annotated[float, Field(ge=2, le=2000)] = Field(
        "auto",
        description="Median nuclear diameter in px: 'auto' estimates it (or derives it from the pixel size when the "
        "image and the model both declare one); images are resized so nuclei reach the model's trained size",
    )

    def watershed_overrides(self) -> dict[str, Any]:
        """The post-processing parameters this job overrides."""
        keys = (
            "foreground_threshold", "seed_threshold", "split_threshold", "min_cell_px", "min_seed_px", "fill_holes",
            "min_mean_foreground",
        )  # fmt: skip
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not None}


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
    division_settle_frames: int = Field(
        0,
        ge=0,
        le=10,
        description="frames a division may be postponed while its two daughters still touch (the segmentation cut "
        "one nucleus early; the pieces are merged back); movies cellkiosk segments only, 0: off",
    )


def optional_overrides(model: type[BaseModel], name: str) -> type[BaseModel]:
    """A model with every field of ``model`` optional (default None), same types, bounds and descriptions.

    Unknown keys are refused, so a misspelt override fails with its name; unset keys keep the defaults.
    """
    fields: dict[str, Any] = {}
    for key, info in model.model_fields.items():
        override = FieldInfo(default=None, description=info.description)
        override.metadata = list(info.metadata)  # gt / ge / le bounds apply to a given value
        annotation: Any = info.annotation
        fields[key] = (annotation | None, override)
    return create_model(name, __config__=ConfigDict(extra="forbid"), **fields)


if TYPE_CHECKING:
    TrackingOverrides = BaseModel
else:
    TrackingOverrides = optional_overrides(TrackingParams, "TrackingOverrides")


class TrackingJobParams(SegmentationParams):
    """Parameters of a tracking job: how frames are segmented, or the label movie to track; tracker overrides."""

    labels: str | None = Field(
        None,
        pattern=r"^uploads/",
        description="Upload key of your own label movie (same T, Y, X as the movie): track it, skip segmentation",
    )
    scale: float | None = Field(
        None,
        gt=0.05,
        le=4,
        description="Resize frames by this factor before segmenting (labels are mapped back); overrides diameter. "
        "Default: from params.diameter ('auto': estimated on a few frames, one scale for the movie)",
    )
    tracking: TrackingOverrides = Field(default_factory=TrackingOverrides, description="Tracker overrides")


PARAMS_BY_TYPE: dict[str, type[BaseModel]] = {"segmentation": SegmentationParams, "tracking": TrackingJobParams}


def validate_params(job_type: str, params: dict[str, Any]) -> BaseModel:
    """Parse a job's params; BadInputError lists every problem in words."""
    model = PARAMS_BY_TYPE.get(job_type)
    if model is None:
        raise BadInputError(f"unknown job type '{job_type}'")
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        problems = "; ".join(f"params.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise BadInputError(f"bad params: {problems}") from None

"""Per-job-type parameters, validated at the gateway and read by the consumer."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

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
    min_cell_px: int | None = Field(None, ge=0, description="Remove cells smaller than this (pixels)")
    min_seed_px: int | None = Field(None, ge=0)
    fill_holes: bool | None = None
    tile_px: int | None = Field(None, ge=64, le=4096, description="Tile size for large images; default from card")
    flip_tta: bool = Field(False, description="Average predictions over flips (slower, slightly better)")

    def watershed_overrides(self) -> dict[str, Any]:
        """The post-processing parameters this job overrides."""
        keys = ("foreground_threshold", "seed_threshold", "min_cell_px", "min_seed_px", "fill_holes")
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not None}


PARAMS_BY_TYPE: dict[str, type[BaseModel]] = {"segmentation": SegmentationParams}


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

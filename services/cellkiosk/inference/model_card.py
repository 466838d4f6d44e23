"""The model card: what a model expects, how to post-process it, how good it is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, field_validator

from cellkiosk.postprocess.deep_watershed import WatershedParams
from cellkiosk.tracking.params import TrackingParams

CARD_FILE = "model.yaml"
SAVED_MODEL_DIR = "saved_model"


class ChannelSpec(BaseModel):
    """One input channel of a model."""

    name: str
    description: str = ""


class Normalization(BaseModel):
    """Per-channel percentile normalization (imaging.normalize.normalize_percentile)."""

    method: str = "percentile"
    low: float = 1.0
    high: float = 99.8


class ModelInputs(BaseModel):
    """What goes into the network."""

    channels: list[ChannelSpec]
    normalization: Normalization = Field(default_factory=Normalization)
    pixel_size_um: float | None = Field(None, description="Pixel size the model was trained at, if known")
    diameter_px: float | None = Field(
        None, gt=0, description="Median nuclear diameter (px) the model was trained at; jobs resize nuclei to it"
    )
    tile_px: int = 512
    tile_overlap_px: int = 64
    multiple_of: int = 16
    edge_pad_px: int = Field(
        0,
        ge=0,
        description="Network input is reflected this many px past the image's borders: nuclei cut by the "
        "border look whole to the network",
    )


class ModelOutputs(BaseModel):
    """What comes out of the network and under which names it is served."""

    heads: list[str]
    signature: str = "serving_default"
    input_key: str = "image"
    output_key: str = "heads"


class Postprocess(BaseModel):
    """Post-processing method and its default parameters (overridable per job)."""

    method: str = "deep_watershed"
    params: dict[str, Any] = Field(default_factory=dict)


class ModelCard(BaseModel):
    """Contents of ``model.yaml``.

    A card either has its own SavedModel (``inputs``/``outputs`` describe it) or builds on another
    model: a tracking card names the ``segmentation_model`` it runs on every frame and holds the
    defaults of the per-frame ``segmentation`` (e.g. ``scale``) and of the ``tracking`` parameters.
    """

    name: str
    version: str
    job_type: str
    description: str = ""
    inputs: ModelInputs = Field(default_factory=lambda: ModelInputs(channels=[]))
    outputs: ModelOutputs = Field(default_factory=lambda: ModelOutputs(heads=[]))
    postprocess: Postprocess = Field(default_factory=Postprocess)
    segmentation_model: str | None = Field(None, description="Model (name or name:version) segmenting each frame")
    segmentation: dict[str, Any] = Field(default_factory=dict, description="Per-frame segmentation defaults")
    tracking: dict[str, Any] = Field(default_factory=dict, description="Tracker parameter defaults")
    tracking_diameter_px: float | None = Field(
        None,
        gt=0,
        description="Nuclear diameter (image px) the tracker's distances are given for; a movie's are scaled by its "
        "nuclei's diameter over this (None: distances in image px whatever the nuclei's size)",
    )
    parameters: int | None = None
    training: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    path: Path | None = Field(None, exclude=True)

    @field_validator("tracking")
    @classmethod
    def _known_tracking_params(cls, value: dict[str, Any]) -> dict[str, Any]:
        TrackingParams.model_validate(value)  # a misspelt key in model.yaml fails when the card is read
        return value

    @field_validator("segmentation")
    @classmethod
    def _known_segmentation_defaults(cls, value: dict[str, Any]) -> dict[str, Any]:
        unknown = set(value) - {"scale"} - set(WatershedParams.__dataclass_fields__)
        if unknown:  # a misspelt key in model.yaml fails when the card is read
            raise ValueError(f"unknown per-frame segmentation defaults {sorted(unknown)} (scale or post-processing)")
        return value

    @property
    def watershed_defaults(self) -> dict[str, Any]:
        """A tracking card's post-processing overrides for its segmentation model (``segmentation`` minus scale)."""
        return {k: v for k, v in self.segmentation.items() if k != "scale"}

    @property
    def n_channels(self) -> int:
        """Number of input channels."""
        return len(self.inputs.channels)

    @property
    def saved_model_path(self) -> Path:
        """Directory of the TF SavedModel."""
        if self.path is None:
            raise ValueError(f"model card {self.name} has no location")
        if self.segmentation_model is not None:
            raise ValueError(f"model {self.name} has no SavedModel of its own; it runs {self.segmentation_model}")
        return self.path / SAVED_MODEL_DIR

    @property
    def served_name(self) -> str:
        """Name of the model in TF Serving (its model_config entry)."""
        return self.name

    def write(self, directory: Path) -> Path:
        """Write ``model.yaml`` into ``directory``."""
        target = directory / CARD_FILE
        optional = ("segmentation_model", "segmentation", "tracking", "tracking_diameter_px")
        unused = {k for k in optional if not getattr(self, k)}
        target.write_text(yaml.safe_dump(self.model_dump(mode="json", exclude=unused), sort_keys=False))
        return target

    @classmethod
    def read(cls, directory: Path) -> ModelCard:
        """Read ``directory/model.yaml``."""
        data = yaml.safe_load((directory / CARD_FILE).read_text())
        card = cls.model_validate(data)
        card.path = directory
        return card

"""The model card: what a model expects, how to post-process it, how good it is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field

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
    tile_px: int = 512
    tile_overlap_px: int = 64
    multiple_of: int = 16


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
    """Contents of ``model.yaml``."""

    name: str
    version: str
    job_type: str
    description: str = ""
    inputs: ModelInputs
    outputs: ModelOutputs
    postprocess: Postprocess = Field(default_factory=Postprocess)
    parameters: int | None = None
    training: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    path: Path | None = Field(None, exclude=True)

    @property
    def n_channels(self) -> int:
        """Number of input channels."""
        return len(self.inputs.channels)

    @property
    def saved_model_path(self) -> Path:
        """Directory of the TF SavedModel."""
        if self.path is None:
            raise ValueError(f"model card {self.name} has no location")
        return self.path / SAVED_MODEL_DIR

    @property
    def served_name(self) -> str:
        """Name of the model in TF Serving (its model_config entry)."""
        return self.name

    def write(self, directory: Path) -> Path:
        """Write ``model.yaml`` into ``directory``."""
        target = directory / CARD_FILE
        target.write_text(yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False))
        return target

    @classmethod
    def read(cls, directory: Path) -> ModelCard:
        """Read ``directory/model.yaml``."""
        data = yaml.safe_load((directory / CARD_FILE).read_text())
        card = cls.model_validate(data)
        card.path = directory
        return card

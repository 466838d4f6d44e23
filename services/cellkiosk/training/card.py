"""The model card of the nuclear segmentation model, filled in at export."""

from __future__ import annotations

import subprocess
from typing import Any

from cellkiosk.inference.model_card import ChannelSpec, ModelCard, ModelInputs, ModelOutputs, Normalization, Postprocess
from cellkiosk.training.model import HEADS


def git_commit() -> str:
    """The commit the code was at (or 'unknown')."""
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def nuclear_card(
    version: str,
    postprocess: dict[str, Any],
    training: dict[str, Any],
    metrics: dict[str, Any],
    name: str = "nuclear",
    diameter_px: float | None = None,
) -> ModelCard:
    """Card for a nuclear model trained by ``cellkiosk train`` on DSB2018 fluorescence images.

    A run that mixed in Cell Tracking Challenge frames (``training["data"]`` names them) says so in
    the description.
    """
    description = (
        "Nuclear segmentation of 2-D fluorescence images (DAPI/Hoechst-like stains). A compact U-Net predicts "
        "a foreground probability and a per-nucleus inner distance; a deep watershed seeded from the inner "
        "distance turns them into one label per nucleus."
    )
    if diameter_px:
        description += (
            f" Trained with nuclei resized to {diameter_px:g} px across; jobs estimate the nuclei's size and resize "
            "to it (params.diameter)."
        )
    elif "Cell Tracking Challenge" in str(training.get("data", "")):
        description += (
            " Fine-tuned on time-lapse frames of live-cell nuclei (textured and dim nuclei included) for "
            "tracking; resize frames so nuclei are about 20 px across (params.scale)."
        )
    return ModelCard(
        name=name,
        version=version,
        job_type="segmentation",
        description=description,
        inputs=ModelInputs(
            channels=[ChannelSpec(name="nuclear", description="nuclear stain, fluorescence (bright nuclei on dark)")],
            normalization=Normalization(method="percentile", low=1.0, high=99.8),
            pixel_size_um=None,
            diameter_px=diameter_px,
            tile_px=512,
            tile_overlap_px=64,
            multiple_of=16,
        ),
        outputs=ModelOutputs(heads=list(HEADS)),
        postprocess=Postprocess(method="deep_watershed", params=postprocess),
        training={**training, "commit": git_commit()},
        metrics=metrics,
    )

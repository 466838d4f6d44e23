"""Mapping the channels of an input image onto a model's input channels."""

from __future__ import annotations

import numpy as np

from cellkiosk.core.errors import BadInputError

LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def drop_alpha(image: np.ndarray, source_axes: str = "") -> np.ndarray:
    """Drop the alpha channel of RGBA (or grey+alpha) images read from PNG/JPEG."""
    if "S" in source_axes and image.shape[-1] in (2, 4):
        return image[..., :-1]
    return image


def to_single_channel(image: np.ndarray) -> np.ndarray:
    """Reduce (…, C) to (…, 1): equal colour channels give the first, colour gives luminance.

    Alpha (a 4th channel) is dropped first.
    """
    if image.shape[-1] == 1:
        return image
    if image.shape[-1] == 4:
        image = image[..., :3]
    if image.shape[-1] == 2:
        image = image[..., :1]
        return image
    first = image[..., :1]
    if all(np.array_equal(image[..., c : c + 1], first) for c in range(1, image.shape[-1])):
        return first
    if image.shape[-1] == 3:
        return (image.astype(np.float32) @ LUMA)[..., None]
    raise BadInputError(f"image has {image.shape[-1]} channels; pass params.channels to pick one")


def select_channels(
    image: np.ndarray,
    model_channels: int,
    channels: list[int] | None,
    model_name: str,
    source_axes: str = "",
) -> np.ndarray:
    """Return (…, model_channels) from (…, C).

    Parameters
    ----------
    image : ndarray (…, C)
    model_channels : int
        How many input channels the model takes.
    channels : list of int, optional
        ``channels[i]`` is the input channel (0-based) that feeds model input i.
    model_name : str
        For the error message.
    source_axes : str
        Axes the file declared ('S' marks colour samples, whose alpha is dropped).
    """
    n = image.shape[-1]
    if channels is not None:
        if len(channels) != model_channels:
            raise BadInputError(
                f"params.channels has {len(channels)} entries but model '{model_name}' takes {model_channels}"
            )
        bad = [c for c in channels if not 0 <= c < n]
        if bad:
            raise BadInputError(
                f"params.channels {bad} out of range: the image has {n} channel(s), numbered 0..{n - 1}"
            )
        return image[..., channels]
    image = drop_alpha(image, source_axes)
    n = image.shape[-1]
    if n == model_channels:
        return image
    if model_channels == 1 and "S" in source_axes and n == 3:
        return to_single_channel(image)
    raise BadInputError(
        f"image has {n} channels, model '{model_name}' takes {model_channels}; "
        f"pass params.channels (e.g. [0]) to choose which"
    )

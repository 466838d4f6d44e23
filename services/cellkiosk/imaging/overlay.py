"""Label overlays for display: cell outlines or fills in per-label colours over a grey image."""

from __future__ import annotations

import imagecodecs
import numpy as np

from cellkiosk.imaging.normalize import normalize_percentile

OVERLAY_MODES = ("outline", "fill")
FILL_OPACITY = 0.4
GOLDEN_RATIO_CONJUGATE = 0.618033988749895


def display_image(image: np.ndarray) -> np.ndarray:
    """Percentile-normalize (1 / 99.8) to uint8 RGB: grey from channel 0, or a composite if C == 3.

    Parameters
    ----------
    image : ndarray, shape (Y, X, C) or (Y, X)
        Any numeric dtype.

    Returns
    -------
    ndarray of uint8, shape (Y, X, 3)
    """
    if image.ndim == 2:
        image = image[..., np.newaxis]
    if image.ndim != 3:
        raise ValueError(f"expected (Y, X, C), got shape {image.shape}")
    channels = image if image.shape[2] == 3 else image[..., :1]
    scaled = np.clip(normalize_percentile(channels), 0.0, 1.0) * 255.0
    grey = np.rint(scaled).astype(np.uint8)
    return grey if grey.shape[2] == 3 else np.repeat(grey, 3, axis=2)


def label_colours(ids: np.ndarray) -> np.ndarray:
    """Deterministic bright colours for label ids (golden-ratio hues), uint8 of shape (N, 3)."""
    hue = (np.asarray(ids, dtype=np.float64) * GOLDEN_RATIO_CONJUGATE) % 1.0
    saturation = 0.85  # value 1: the brightest component is always 255
    # HSV -> RGB, vectorized: each sixth of the hue circle orders (1, rising, falling, low) differently.
    sector = np.floor(hue * 6.0).astype(int) % 6
    frac = hue * 6.0 - np.floor(hue * 6.0)
    one = np.ones_like(hue)
    low = one * (1.0 - saturation)
    falling = 1.0 - saturation * frac
    rising = 1.0 - saturation * (1.0 - frac)
    orders = [
        (one, rising, low),
        (falling, one, low),
        (low, one, rising),
        (low, falling, one),
        (rising, low, one),
        (one, low, falling),
    ]
    rgb = np.zeros((hue.size, 3))
    for s, order in enumerate(orders):
        rgb[sector == s] = np.stack(order, axis=-1)[sector == s]
    return np.rint(rgb * 255.0).astype(np.uint8)


def inner_boundaries(labels: np.ndarray) -> np.ndarray:
    """Pixels of a cell that touch another label (or background) among their 4 neighbours.

    Equal to ``skimage.segmentation.find_boundaries(labels, mode="inner") & (labels > 0)`` (a pixel whose
    3 x 3 cross holds two values; outside the image counts as the pixel itself), with shifted compares
    instead of a grey dilation and erosion: ~10x faster on a 1.4 MP image.
    """
    edge = np.zeros(labels.shape, dtype=bool)
    down = labels[1:] != labels[:-1]
    edge[1:] |= down
    edge[:-1] |= down
    right = labels[:, 1:] != labels[:, :-1]
    edge[:, 1:] |= right
    edge[:, :-1] |= right
    return edge & (labels > 0)


def render_overlay(image: np.ndarray, labels: np.ndarray, mode: str = "outline") -> np.ndarray:
    """Draw labelled cells over the display image.

    Parameters
    ----------
    image : ndarray, shape (Y, X, C) or (Y, X)
        Raw intensities, any dtype; see :func:`display_image`.
    labels : ndarray of int, shape (Y, X)
        Cell labels, 0 is background.
    mode : {"outline", "fill"}
        ``"outline"`` paints each cell's inner boundary in its colour; ``"fill"`` blends
        the whole cell with its colour at 40 % opacity.

    Returns
    -------
    ndarray of uint8, shape (Y, X, 3)
    """
    if mode not in OVERLAY_MODES:
        raise ValueError(f"mode must be one of {OVERLAY_MODES}, got {mode!r}")
    if labels.shape != image.shape[:2]:
        raise ValueError(f"labels {labels.shape} do not match image {image.shape}")
    rgb = display_image(image)
    mask = inner_boundaries(labels) if mode == "outline" else labels > 0
    if not mask.any():
        return rgb
    ids, inverse = np.unique(labels[mask], return_inverse=True)
    colours = label_colours(ids)[inverse.ravel()]
    if mode == "outline":
        rgb[mask] = colours
    else:
        blended = (1.0 - FILL_OPACITY) * rgb[mask] + FILL_OPACITY * colours
        rgb[mask] = np.rint(blended).astype(np.uint8)
    return rgb


def encode_png(rgb: np.ndarray) -> bytes:
    """Encode a (Y, X, 3) uint8 image as PNG bytes.

    zlib level 1 and the "sub" filter: on a 1.4 MP overlay a third of the time of Pillow's level 6 with
    adaptive filters, for ~5 % more bytes; imagecodecs releases the GIL, so the consumer's finisher
    thread encodes while the next job computes.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected (Y, X, 3) uint8, got {rgb.shape} {rgb.dtype}")
    return bytes(imagecodecs.png_encode(np.ascontiguousarray(rgb), level=1, filter=imagecodecs.PNG.FILTER.SUB))


def preview_png(image: np.ndarray, labels: np.ndarray, max_side: int = 4096, mode: str = "outline") -> bytes:
    """PNG overlay of a possibly huge image, subsampled by a stride so neither side exceeds ``max_side``.

    Image and labels are subsampled before drawing, so outlines stay visible (1 px at preview
    scale) and memory stays at preview size.
    """
    stride = max(1, -(-max(labels.shape) // max_side))
    overlay = render_overlay(image[::stride, ::stride], labels[::stride, ::stride], mode=mode)
    return encode_png(overlay)

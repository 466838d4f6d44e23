"""Random crops and augmentation of (image, target) pairs, in numpy."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi


def random_crop(
    image: np.ndarray, target: np.ndarray, size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Crop ``size`` x ``size`` at a random place, reflect-padding smaller images."""
    pad_y, pad_x = max(0, size - image.shape[0]), max(0, size - image.shape[1])
    if pad_y or pad_x:
        widths = ((pad_y // 2, pad_y - pad_y // 2), (pad_x // 2, pad_x - pad_x // 2), (0, 0))
        image = np.pad(image, widths, mode="reflect")
        target = np.pad(target, widths, mode="constant")
    y = rng.integers(0, image.shape[0] - size + 1)
    x = rng.integers(0, image.shape[1] - size + 1)
    return image[y : y + size, x : x + size], target[y : y + size, x : x + size]


def scale_jitter(image: np.ndarray, target: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """Zoom image and targets by ``factor`` (the inner distance is scale-free, so it zooms linearly)."""
    zoom = (factor, factor, 1)
    image = ndi.zoom(image, zoom, order=1)
    fg = ndi.zoom(target[..., :1], zoom, order=0)
    inner = ndi.zoom(target[..., 1:], zoom, order=1) * fg
    return image, np.concatenate([fg, inner], axis=-1)


def augment(
    image: np.ndarray, target: np.ndarray, size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One augmented crop: scale jitter, crop, flips, 90° rotations, gamma, intensity, noise.

    ``image`` is normalized (Y, X, C) float32, ``target`` (Y, X, 2) from
    :func:`cellkiosk.training.targets.make_targets`.
    """
    if rng.random() < 0.5:
        factor = float(np.exp(rng.uniform(np.log(0.7), np.log(1.4))))
        crop = int(np.ceil(size / factor)) + 2
        image, target = random_crop(image, target, crop, rng)
        image, target = scale_jitter(image, target, factor)
    image, target = random_crop(image, target, size, rng)
    k = int(rng.integers(4))
    image, target = np.rot90(image, k), np.rot90(target, k)
    if rng.random() < 0.5:
        image, target = image[:, ::-1], target[:, ::-1]
    image = image.astype(np.float32, copy=True)
    if rng.random() < 0.5:
        gamma = float(np.exp(rng.uniform(-0.4, 0.4)))
        image = np.clip(image, 0, None) ** gamma
    image = image * rng.uniform(0.8, 1.2) + rng.uniform(-0.1, 0.1)
    if rng.random() < 0.3:
        image = image + rng.normal(0, rng.uniform(0.0, 0.05), image.shape).astype(np.float32)
    return image.astype(np.float32), np.ascontiguousarray(target, dtype=np.float32)

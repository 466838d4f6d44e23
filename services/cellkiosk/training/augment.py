"""Random crops and augmentation of (image, target) pairs, in numpy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi


@dataclass(frozen=True)
class AugmentConfig:
    """How hard to augment: the ranges each transform draws from."""

    scale_range: tuple[float, float] = (0.5, 2.0)  # zoom, log-uniform, applied with probability scale_p
    scale_p: float = 0.8
    crowded_p: float = 0.5  # take the most crowded of three candidate crops
    blur_p: float = 0.25
    background_p: float = 0.3
    noise_p: float = 0.4
    object_gain_p: float = 0.0  # each nucleus's brightness scaled on its own (stain and DNA content vary)
    object_gain_range: tuple[float, float] = (0.3, 1.5)  # log-uniform gain per nucleus


def random_crop(
    image: np.ndarray, target: np.ndarray, size: int, rng: np.random.Generator, candidates: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Crop ``size`` x ``size`` at a random place, reflect-padding smaller images.

    With ``candidates`` > 1, the crop among that many random places that holds the most
    touching-nucleus border (then foreground) is kept: crowded regions are drawn more often.
    """
    pad_y, pad_x = max(0, size - image.shape[0]), max(0, size - image.shape[1])
    if pad_y or pad_x:
        widths = ((pad_y // 2, pad_y - pad_y // 2), (pad_x // 2, pad_x - pad_x // 2), (0, 0))
        image = np.pad(image, widths, mode="reflect")
        target = np.pad(target, widths, mode="constant")
    best, best_score = (0, 0), -1.0
    for _ in range(candidates):
        y = int(rng.integers(0, image.shape[0] - size + 1))
        x = int(rng.integers(0, image.shape[1] - size + 1))
        if candidates == 1:
            best = (y, x)
            break
        window = target[y : y + size, x : x + size]
        score = float((window[..., -1] > 1).sum()) + 1e-3 * float(window[..., 0].sum())
        if score > best_score:
            best, best_score = (y, x), score
    y, x = best
    return image[y : y + size, x : x + size], target[y : y + size, x : x + size]


def scale_jitter(image: np.ndarray, target: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """Zoom image and targets by ``factor`` (the inner distance is scale-free, so it zooms linearly).

    Channel 1 of ``target`` is the inner distance (bilinear, cut to the foreground); every other
    channel (foreground, masks, weights) is zoomed by nearest neighbour.
    """
    zoom = (factor, factor, 1)
    image = ndi.zoom(image, zoom, order=1)
    nearest = ndi.zoom(target, zoom, order=0)
    nearest[..., 1] = ndi.zoom(target[..., 1], (factor, factor), order=1) * nearest[..., 0]
    return image, nearest


def object_gain(image: np.ndarray, target: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """Scale each nucleus's pixels by its own random gain, so dim nuclei beside bright ones are common.

    Nuclei are the connected parts of the foreground without the touching borders (channel 3 > 1);
    the gain map is smoothed over ~2 px so no hard edge is drawn around a nucleus.
    """
    inside = (target[..., 0] > 0.5) & (target[..., -1] <= 1)
    parts, n = ndi.label(inside)
    if n == 0:
        return image
    low, high = cfg.object_gain_range
    gains = np.concatenate([[1.0], np.exp(rng.uniform(np.log(low), np.log(high), n))]).astype(np.float32)
    grown = ndi.grey_dilation(parts, size=(5, 5))  # cover the borders and the rim the smoothing blurs
    gain = ndi.gaussian_filter(gains[grown], 2.0)
    return image * gain[..., None]


def intensity_augment(
    image: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig, target: np.ndarray | None = None
) -> np.ndarray:
    """Per-nucleus gain (with ``target``), blur, uneven background, gamma, contrast/offset and noise on a
    normalized (Y, X, C) crop."""
    image = image.astype(np.float32, copy=True)
    if target is not None and rng.random() < cfg.object_gain_p:
        image = object_gain(image, target, rng, cfg)
    if rng.random() < cfg.blur_p:
        image = ndi.gaussian_filter(image, (rng.uniform(0.5, 2.0),) * 2 + (0,))
    if rng.random() < 0.5:
        gamma = float(np.exp(rng.uniform(-0.5, 0.5)))
        image = np.clip(image, 0, None) ** gamma
    image = image * rng.uniform(0.6, 1.4) + rng.uniform(-0.1, 0.1)
    if rng.random() < cfg.background_p:  # a smooth illumination gradient, as from uneven lighting
        yy, xx = np.mgrid[0 : image.shape[0], 0 : image.shape[1]] / max(image.shape[:2])
        angle = rng.uniform(0, 2 * np.pi)
        ramp = np.cos(angle) * yy + np.sin(angle) * xx
        image = image + (rng.uniform(0.05, 0.3) * (ramp - ramp.min()))[..., None].astype(np.float32)
    if rng.random() < cfg.noise_p:
        image = image + rng.normal(0, rng.uniform(0.01, 0.08), image.shape).astype(np.float32)
    return image


def augment(
    image: np.ndarray,
    target: np.ndarray,
    size: int,
    rng: np.random.Generator,
    cfg: AugmentConfig | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One augmented crop: scale jitter, (crowded) crop, flips, 90° rotations, intensity transforms.

    ``image`` is normalized (Y, X, C) float32, ``target`` (Y, X, K) from
    :func:`cellkiosk.training.targets.make_targets`.
    """
    cfg = cfg or AugmentConfig()
    candidates = 3 if rng.random() < cfg.crowded_p else 1
    if rng.random() < cfg.scale_p:
        low, high = cfg.scale_range
        factor = float(np.exp(rng.uniform(np.log(low), np.log(high))))
        crop = int(np.ceil(size / factor)) + 2
        image, target = random_crop(image, target, crop, rng, candidates)
        image, target = scale_jitter(image, target, factor)
    image, target = random_crop(image, target, size, rng, candidates)
    k = int(rng.integers(4))
    image, target = np.rot90(image, k), np.rot90(target, k)
    if rng.random() < 0.5:
        image, target = image[:, ::-1], target[:, ::-1]
    return intensity_augment(image, rng, cfg, target).astype(np.float32), np.ascontiguousarray(target, dtype=np.float32)

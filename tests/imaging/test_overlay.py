"""Label overlays and their PNG encoding."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from skimage.segmentation import find_boundaries

from cellkiosk.imaging.overlay import (
    display_image,
    encode_png,
    inner_boundaries,
    label_colours,
    preview_png,
    render_overlay,
)


def cells_image(shape: tuple[int, int] = (40, 50)) -> tuple[np.ndarray, np.ndarray]:
    """Two touching rectangles and one isolated square over a uint16 ramp."""
    labels = np.zeros(shape, dtype=np.int32)
    labels[5:15, 5:15] = 3
    labels[5:15, 15:25] = 8
    labels[25:35, 30:40] = 1
    image = np.arange(shape[0] * shape[1], dtype=np.uint16).reshape(*shape, 1) * 7
    return labels, image


@pytest.mark.parametrize("mode", ["outline", "fill"])
@pytest.mark.parametrize("channels", [1, 2, 3])
def test_shape_and_dtype(mode: str, channels: int) -> None:
    labels, image = cells_image()
    image = np.repeat(image, channels, axis=2)
    rgb = render_overlay(image, labels, mode=mode)
    assert rgb.shape == (*labels.shape, 3) and rgb.dtype == np.uint8


def test_outline_differs_from_grey_exactly_on_boundaries() -> None:
    labels, image = cells_image()
    grey = display_image(image)
    rgb = render_overlay(image, labels, mode="outline")
    changed = (rgb != grey).any(axis=2)
    boundaries = find_boundaries(labels, mode="inner")
    # A colour could coincide with the grey pixel under it; the bright, saturated palette does not here.
    np.testing.assert_array_equal(changed, boundaries)
    assert len({tuple(rgb[5, 5]), tuple(rgb[5, 24]), tuple(rgb[25, 30])}) == 3  # one colour per label


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_inner_boundaries_equal_skimage_find_boundaries(seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 6, size=(61, 47)).repeat(3, axis=0).repeat(2, axis=1)  # blocks touching the border
    labels[rng.random(labels.shape) < 0.02] = 9  # single pixels
    expected = find_boundaries(labels, mode="inner") & (labels > 0)
    np.testing.assert_array_equal(inner_boundaries(labels), expected)


def test_fill_blends_inside_cells_only() -> None:
    labels, image = cells_image()
    grey = display_image(image).astype(int)
    rgb = render_overlay(image, labels, mode="fill").astype(int)
    np.testing.assert_array_equal(rgb[labels == 0], grey[labels == 0])
    expected = np.rint(0.6 * grey[25, 30] + 0.4 * label_colours(np.array([1]))[0])
    np.testing.assert_array_equal(rgb[25, 30], expected)


def test_no_labels_give_plain_grey() -> None:
    _, image = cells_image()
    rgb = render_overlay(image, np.zeros(image.shape[:2], dtype=np.int32))
    np.testing.assert_array_equal(rgb, display_image(image))
    assert (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()
    assert rgb.min() == 0 and rgb.max() == 255


def test_colours_are_deterministic_and_bright() -> None:
    ids = np.arange(1, 1000)
    colours = label_colours(ids)
    np.testing.assert_array_equal(colours, label_colours(ids))
    assert colours.max(axis=1).min() == 255
    assert len({tuple(c) for c in colours[:10]}) == 10


def test_png_round_trip() -> None:
    labels, image = cells_image()
    rgb = render_overlay(image, labels)
    decoded = np.asarray(Image.open(io.BytesIO(encode_png(rgb))))
    assert decoded.shape == (40, 50, 3)
    np.testing.assert_array_equal(decoded, rgb)


def test_preview_of_a_tall_image_is_downsampled() -> None:
    labels, image = cells_image((5000, 300))
    with Image.open(io.BytesIO(preview_png(image, labels, max_side=4096))) as png:
        assert png.size == (150, 2500)  # stride 2; Pillow reports (width, height)
    with Image.open(io.BytesIO(preview_png(image[:400], labels[:400]))) as png:
        assert png.size == (300, 400)


def test_bad_mode_raises() -> None:
    labels, image = cells_image()
    with pytest.raises(ValueError, match="mode"):
        render_overlay(image, labels, mode="glow")

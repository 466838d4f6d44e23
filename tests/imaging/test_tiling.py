"""Tiled prediction: exact reconstruction, local operations, call contract, grid coverage."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from cellkiosk.imaging.tiling import blend_window, predict_tiled, reflected_window, tile_grid


class RecordingIdentity:
    """Identity model that records the batch shapes it was called with."""

    def __init__(self) -> None:
        self.shapes: list[tuple[int, ...]] = []

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        assert batch.dtype == np.float32
        self.shapes.append(batch.shape)
        return batch.copy()


@pytest.mark.parametrize("shape", [(1, 1), (1, 40), (3, 500), (255, 257), (512, 512), (1300, 777), (5, 1100)])
def test_identity_reproduces_image(shape: tuple[int, int]) -> None:
    image = np.random.default_rng(0).random((*shape, 2), dtype=np.float32)
    model = RecordingIdentity()
    out = predict_tiled(image, model, out_channels=2, batch_size=3)
    assert out.shape == image.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, image, atol=1e-5)
    for n, ty, tx, c in model.shapes:
        assert ty % 16 == 0 and tx % 16 == 0 and ty >= 16 and tx >= 16
        assert 1 <= n <= 3 and c == 2


def test_small_image_is_predicted_in_one_call() -> None:
    model = RecordingIdentity()
    predict_tiled(np.ones((255, 257, 1), dtype=np.float32), model, out_channels=1)
    assert model.shapes == [(1, 256, 272, 1)]


def test_integer_input_and_other_output_channels() -> None:
    image = np.random.default_rng(1).integers(0, 4000, (700, 90, 1), dtype=np.uint16)

    def two_channels(batch: np.ndarray) -> np.ndarray:
        return np.concatenate([batch, 2 * batch], axis=-1)

    out = predict_tiled(image, two_channels, out_channels=2, tile_px=256, overlap_px=32)
    np.testing.assert_allclose(out[..., 0], image[..., 0], rtol=1e-6)
    np.testing.assert_allclose(out[..., 1], 2.0 * image[..., 0], rtol=1e-6)


@pytest.mark.parametrize(("size", "overlap_px"), [(3, 4), (5, 8), (7, 16), (3, 2)])
def test_local_filter_matches_whole_image(size: int, overlap_px: int) -> None:
    # Exact where overlap >= 4 * radius (the outer quarter of an overlap is not used) or the
    # overlap is as small as 2 * radius = 2 (the blend is then a hard seam).
    radius = size // 2
    image = np.random.default_rng(2).random((300, 211, 1), dtype=np.float32)

    def mean_filter(batch: np.ndarray) -> np.ndarray:
        return ndi.uniform_filter(batch, size=(1, size, size, 1))

    out = predict_tiled(image, mean_filter, out_channels=1, tile_px=64, overlap_px=overlap_px)
    expected = ndi.uniform_filter(image, size=(size, size, 1))
    # Tiles at the bottom/right image border are padded differently from scipy's own border mode.
    inner = (slice(radius, -radius), slice(radius, -radius))
    np.testing.assert_allclose(out[inner], expected[inner], atol=1e-5)


@pytest.mark.parametrize("shape", [(300, 211), (40, 700), (20, 20)])
def test_edge_px_predicts_the_image_reflected_past_its_borders(shape: tuple[int, int]) -> None:
    image = np.random.default_rng(3).random((*shape, 1), dtype=np.float32)
    edge = 8

    def mean_filter(batch: np.ndarray) -> np.ndarray:
        return ndi.uniform_filter(batch, size=(1, 5, 5, 1), mode="constant")  # borders see zeros, as a U-Net's do

    reflected = np.pad(image, ((edge, edge), (edge, edge), (0, 0)), mode="reflect")
    expected = ndi.uniform_filter(reflected, size=(5, 5, 1), mode="constant")[edge:-edge, edge:-edge]
    out = predict_tiled(image, mean_filter, out_channels=1, tile_px=128, overlap_px=16, edge_px=edge)
    assert out.shape == image.shape and out.flags.c_contiguous
    np.testing.assert_allclose(out, expected, atol=1e-5)  # the image's own border pixels see reflected ones
    assert not np.allclose(predict_tiled(image, mean_filter, out_channels=1, tile_px=128, overlap_px=16), expected)


@pytest.mark.parametrize(("y", "x"), [((0, 40), (0, 40)), ((5, 30), (20, 58)), ((-1, 60), (3, 4)), ((0, 58), (0, 66))])
def test_a_reflected_window_is_that_window_of_the_padded_image(y: tuple[int, int], x: tuple[int, int]) -> None:
    image = np.random.default_rng(4).integers(0, 255, (50, 50, 2)).astype(np.uint8)
    edge = 8
    padded = np.pad(image, ((edge, edge), (edge, edge), (0, 0)), mode="reflect").astype(np.float32)
    y = (max(y[0], 0), y[1])
    window = reflected_window(image, y, x, edge)
    assert window.dtype == np.float32
    np.testing.assert_array_equal(window, padded[y[0] : y[1], x[0] : x[1]])
    tiny = np.arange(3, dtype=np.float32).reshape(1, 3, 1)  # too small to reflect: the border pixel repeats
    np.testing.assert_array_equal(reflected_window(tiny, (0, 7), (0, 9), 3)[5, :, 0], [0, 0, 0, 0, 1, 2, 2, 2, 2])


def test_progress_reaches_one_and_batches_are_bounded() -> None:
    progress: list[float] = []
    model = RecordingIdentity()
    image = np.zeros((1000, 600, 1), dtype=np.float32)
    predict_tiled(image, model, out_channels=1, tile_px=128, overlap_px=16, batch_size=4, on_progress=progress.append)
    n_tiles = len(tile_grid(1000, 128, 16)) * len(tile_grid(600, 128, 16))
    assert sum(shape[0] for shape in model.shapes) == n_tiles
    assert max(shape[0] for shape in model.shapes) <= 4
    assert len(progress) == len(model.shapes) == -(-n_tiles // 4)
    assert progress == sorted(progress) and progress[-1] == 1.0


@pytest.mark.parametrize(
    ("length", "tile", "overlap"),
    [(1, 512, 64), (512, 512, 64), (513, 512, 64), (1300, 512, 64), (20000, 512, 64), (100, 16, 0), (97, 32, 31)],
)
def test_grid_covers_every_pixel(length: int, tile: int, overlap: int) -> None:
    starts = tile_grid(length, tile, overlap)
    covered = np.zeros(length, dtype=bool)
    for start in starts:
        covered[start : start + tile] = True
    assert covered.all()
    assert starts[0] == 0 and starts == sorted(set(starts))
    if length > tile:
        assert starts[-1] + tile == length
        assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:], strict=False))


def test_blend_windows_of_neighbours_sum_to_one_and_never_vanish() -> None:
    tile, overlap = 128, 32
    left = blend_window(tile, overlap, taper_start=False, taper_end=True)
    right = blend_window(tile, overlap, taper_start=True, taper_end=False)
    np.testing.assert_allclose(left[-overlap:] + right[:overlap], 1.0, atol=1e-5)
    assert left[0] == 1.0 and right[-1] == 1.0
    assert left.min() > 0 and right.min() > 0


@pytest.mark.parametrize(
    "kwargs", [{"tile_px": 500}, {"tile_px": 8}, {"overlap_px": 512}, {"overlap_px": -1}, {"batch_size": 0}]
)
def test_bad_arguments_raise(kwargs: dict[str, int]) -> None:
    settings = {"tile_px": 512, "overlap_px": 64, "batch_size": 4} | kwargs
    with pytest.raises(ValueError):
        predict_tiled(
            np.zeros((4, 4, 1), dtype=np.float32),
            RecordingIdentity(),
            out_channels=1,
            tile_px=settings["tile_px"],
            overlap_px=settings["overlap_px"],
            batch_size=settings["batch_size"],
        )


def test_wrong_prediction_shape_raises() -> None:
    with pytest.raises(ValueError, match="predict_fn returned"):
        predict_tiled(np.zeros((4, 4, 1), dtype=np.float32), lambda b: b[:, :8], out_channels=1)


@pytest.mark.parametrize("length", [520, 700, 1040, 1388, 2048, 5000])
def test_fitted_tiles_cover_the_axis_with_the_fewest_pixels(length: int) -> None:
    from cellkiosk.imaging.tiling import fit_tile

    tile = fit_tile(length, 512, 64, 16)
    assert tile % 16 == 0 and tile <= 512
    starts = tile_grid(length, tile, 64)
    assert len(starts) == len(tile_grid(length, 512, 64))
    assert starts[-1] + tile == length and all(b - a <= tile - 64 for a, b in zip(starts, starts[1:], strict=False))
    assert fit_tile(520, 512, 64, 16) == 304

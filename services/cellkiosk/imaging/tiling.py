"""Tiled prediction: run a model over an image of any size with blended overlapping tiles."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

# Floor of the blending weight: a tile edge that another tile covers counts (almost) nothing,
# but no weight is ever exactly 0, so the normalization cannot divide by zero.
MIN_WEIGHT = 1e-6


def tile_grid(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size ``tile`` covering ``[0, length)`` with ``overlap`` px overlap.

    Parameters
    ----------
    length : int
        Size of the axis to cover (>= 1).
    tile : int
        Tile size along the axis (>= 1).
    overlap : int
        Overlap of neighbouring tiles in px, ``0 <= overlap < tile``.

    Returns
    -------
    list of int
        Increasing offsets on a regular grid with stride ``tile - overlap``; the last tile
        ends at ``length`` (it may overlap its neighbour more). A single ``[0]`` when
        ``length <= tile``.
    """
    if length < 1 or tile < 1 or not 0 <= overlap < tile:
        raise ValueError(f"need length >= 1, tile >= 1 and 0 <= overlap < tile; got {length}, {tile}, {overlap}")
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, tile - overlap))
    starts.append(length - tile)
    return starts


def fit_tile(length: int, tile_px: int, overlap: int, multiple: int) -> int:
    """The smallest tile (a multiple of ``multiple``, at most ``tile_px``) that covers ``length``
    with as many tiles as ``tile_px`` would need.

    A 520 px axis with 512 px tiles needs two tiles either way; two 304 px tiles do the same job
    as two 512 px ones with 40 % less computation.
    """
    if length <= tile_px:
        return length
    n = len(tile_grid(length, tile_px, overlap))
    fitted = -(-(length + (n - 1) * overlap) // n)
    fitted = -(-fitted // multiple) * multiple
    return min(tile_px, max(fitted, overlap + 1))


def _reflected_index(span: tuple[int, int], length: int, edge_px: int) -> np.ndarray | slice:
    """Indices into an axis of ``length`` of positions ``span`` of that axis reflected ``edge_px`` past both ends."""
    index = np.arange(span[0] - edge_px, span[1] - edge_px)
    if index.size and 0 <= index[0] and index[-1] < length:
        return slice(int(index[0]), int(index[-1]) + 1)
    if length <= edge_px:  # too short to reflect: the end pixel repeats
        return np.clip(index, 0, length - 1)
    index = np.abs(index)
    return np.where(index >= length, 2 * (length - 1) - index, index)


def reflected_window(image: np.ndarray, y: tuple[int, int], x: tuple[int, int], edge_px: int) -> np.ndarray:
    """Rows ``y`` and columns ``x`` (half-open) of ``image`` reflected ``edge_px`` past its borders, as float32.

    Coordinates are those of the reflected image (0 is ``edge_px`` before the first row); only the
    window is built, never the whole reflected image (inside the image, a float32 image's window is a view).
    Reflection repeats the pixels next to the border (as ``np.pad`` ``reflect``), or the border pixel where
    the image is too small to reflect.
    """
    rows, cols = (_reflected_index(span, n, edge_px) for span, n in zip((y, x), image.shape[:2], strict=True))
    if isinstance(rows, slice) and isinstance(cols, slice):
        return image[rows, cols].astype(np.float32, copy=False)  # a view of a float32 image: callers stack it
    rows = np.arange(image.shape[0])[rows] if isinstance(rows, slice) else rows
    cols = np.arange(image.shape[1])[cols] if isinstance(cols, slice) else cols
    return image[np.ix_(rows, cols)].astype(np.float32)


def blend_window(size: int, overlap: int, taper_start: bool, taper_end: bool) -> np.ndarray:
    """1-D blending weights of a tile: 1 inside, a cosine ramp across the overlap at tapered ends.

    The ramp is centred in the overlap and spans half of it, so the weights of two neighbours
    sum to 1 across their overlap, and the outer quarter of a tile's overlap (where a local
    operation of radius <= overlap/4 sees the tile edge) gets only ``MIN_WEIGHT``. Ends at the
    image border are not tapered: no other tile covers them.
    """
    weights = np.ones(size, dtype=np.float32)
    if overlap > 0:
        dist = np.arange(size, dtype=np.float64) + 0.5  # distance of each pixel centre from the start
        ramp = np.clip((dist - overlap / 2) / (overlap / 2) + 0.5, 0.0, 1.0)
        ramp = 0.5 - 0.5 * np.cos(np.pi * ramp)
        if taper_start:
            weights *= ramp.astype(np.float32)
        if taper_end:
            weights *= ramp[::-1].astype(np.float32)
    return np.maximum(weights, np.float32(MIN_WEIGHT))


def pad_to_multiple(tile: np.ndarray, multiple: int) -> np.ndarray:
    """Pad the first two axes at the end up to a multiple of ``multiple`` (at least ``multiple``).

    Reflect padding where the tile is large enough for it, edge padding otherwise (a 1 px wide
    tile has nothing to reflect).
    """
    pads = [(0, max(multiple, -(-n // multiple) * multiple) - n) for n in tile.shape[:2]]
    if not any(after for _, after in pads):
        return tile
    fits = all(after < n for (_, after), n in zip(pads, tile.shape[:2], strict=True))
    return np.pad(tile, [*pads, (0, 0)], mode="reflect" if fits else "edge")


def _batches(items: list[tuple[int, int]], batch_size: int) -> Iterator[list[tuple[int, int]]]:
    for i in range(0, len(items), batch_size):
        yield items[i : i + batch_size]


def predict_tiled(
    image: np.ndarray,
    predict_fn: Callable[[np.ndarray], np.ndarray],
    out_channels: int,
    tile_px: int = 512,
    overlap_px: int = 64,
    batch_size: int = 4,
    multiple: int = 16,
    on_progress: Callable[[float], None] | None = None,
    edge_px: int = 0,
) -> np.ndarray:
    """Apply ``predict_fn`` to an image of any size, tile by tile, and blend the tiles.

    Parameters
    ----------
    image : ndarray, shape (Y, X, C)
        Model input (converted to float32 one tile at a time).
    predict_fn : callable
        Maps a batch (N, ty, tx, C) float32, ``ty`` and ``tx`` multiples of ``multiple`` and
        ``N <= batch_size``, to (N, ty, tx, out_channels).
    out_channels : int
        Channels of the prediction.
    tile_px : int
        Tile side in px, a multiple of ``multiple``. An image with both sides <= ``tile_px``
        is predicted in one call.
    overlap_px : int
        Overlap of neighbouring tiles, ``0 <= overlap_px < tile_px``. Blending is exact for
        local operations of radius <= ``overlap_px / 4``.
    batch_size : int
        Tiles per ``predict_fn`` call; only one batch of tiles exists at a time.
    multiple : int
        The model's size divisor; tiles are padded (reflect, or edge when too small) up to it.
    on_progress : callable, optional
        Called with the fraction of tiles done (0..1] after each batch.
    edge_px : int
        The image is predicted as if reflected this many px past each border
        (:func:`reflected_window`), and the result cropped back to the image.

    Returns
    -------
    ndarray of float32, shape (Y, X, out_channels)
        Predictions weighted by a smooth window and normalized by the weight sum.
    """
    if image.ndim != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"expected a non-empty (Y, X, C) image, got shape {image.shape}")
    if multiple < 1 or tile_px < multiple or tile_px % multiple:
        raise ValueError(f"tile_px ({tile_px}) must be a positive multiple of multiple ({multiple})")
    if not 0 <= overlap_px < tile_px or batch_size < 1:
        raise ValueError(f"need 0 <= overlap_px < tile_px and batch_size >= 1; got {overlap_px}, {batch_size}")
    if edge_px < 0:
        raise ValueError(f"edge_px must be >= 0, got {edge_px}")
    size_y, size_x = image.shape[0] + 2 * edge_px, image.shape[1] + 2 * edge_px
    tile_y, tile_x = (fit_tile(n, tile_px, overlap_px, multiple) for n in (size_y, size_x))
    starts_y = tile_grid(size_y, tile_y, min(overlap_px, tile_y - 1))
    starts_x = tile_grid(size_x, tile_x, min(overlap_px, tile_x - 1))
    win_y = [blend_window(tile_y, overlap_px, i > 0, i < len(starts_y) - 1) for i in range(len(starts_y))]
    win_x = [blend_window(tile_x, overlap_px, i > 0, i < len(starts_x) - 1) for i in range(len(starts_x))]
    out = np.zeros((size_y, size_x, out_channels), dtype=np.float32)
    weight_sum = np.zeros((size_y, size_x), dtype=np.float32)
    cells = [(iy, ix) for iy in range(len(starts_y)) for ix in range(len(starts_x))]
    done = 0
    for batch_cells in _batches(cells, batch_size):
        tiles = [
            reflected_window(
                image, (starts_y[iy], starts_y[iy] + tile_y), (starts_x[ix], starts_x[ix] + tile_x), edge_px
            )
            for iy, ix in batch_cells
        ]
        batch = np.stack([pad_to_multiple(t, multiple) for t in tiles])
        pred = np.asarray(predict_fn(batch), dtype=np.float32)
        if pred.shape != (*batch.shape[:3], out_channels):
            raise ValueError(f"predict_fn returned shape {pred.shape} for a batch of shape {batch.shape}")
        for (iy, ix), tile_pred in zip(batch_cells, pred, strict=True):
            window = np.outer(win_y[iy], win_x[ix])
            region = (slice(starts_y[iy], starts_y[iy] + tile_y), slice(starts_x[ix], starts_x[ix] + tile_x))
            out[region] += tile_pred[:tile_y, :tile_x] * window[..., None]
            weight_sum[region] += window
        done += len(batch_cells)
        if on_progress is not None:
            on_progress(done / len(cells))
    out /= weight_sum[..., None]
    if edge_px:
        return np.ascontiguousarray(out[edge_px:-edge_px, edge_px:-edge_px])
    return out

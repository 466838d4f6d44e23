"""A movie read lazily, one (Y, X, C) frame at a time, so memory is bounded by a frame, not the movie.

A TIFF whose layout ``imaging.pages`` can map decodes only the TIFF pages of the frame asked for;
every other image (PNG, JPEG, TIFF layouts that cannot be mapped) is read whole by ``imaging.io``
under the same pixel limit as before and served from memory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import IO

import numpy as np
import tifffile

from cellkiosk.core.errors import BadInputError
from cellkiosk.imaging.io import DEFAULT_MAX_PIXELS, LoadedImage, read_image_bytes
from cellkiosk.imaging.pages import TIFF_MAGIC, PagePlan, plan_series, read_planned_page

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Movie:
    """A (T, Y, X, C) movie whose frames are decoded on demand; indexable like the array it stands for."""

    shape: tuple[int, int, int, int]
    dtype: np.dtype
    source_axes: str
    read: Callable[[int], np.ndarray]  # (Y, X, C) of frame t, for 0 <= t < T
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return self.shape[0]

    def frame(self, t: int) -> np.ndarray:
        """Frame ``t`` as (Y, X, C); IndexError past the last frame (which ends iteration)."""
        if not 0 <= t < self.shape[0]:
            raise IndexError(f"frame {t} of a movie of {self.shape[0]} frames")
        return self.read(t)

    __getitem__ = frame

    def frames(self) -> Iterator[np.ndarray]:
        """Every frame in time order, one decoded at a time."""
        return (self.read(t) for t in range(self.shape[0]))

    def mapped(self, fn: Callable[[np.ndarray], np.ndarray]) -> Movie:
        """The movie with ``fn`` applied to each (Y, X, C) frame as it is read (``fn`` must keep Y and X)."""
        probe = fn(np.zeros((1, 1, self.shape[3]), self.dtype))  # fn's effect on channels and dtype
        shape = (*self.shape[:3], probe.shape[-1])
        return replace(self, shape=shape, dtype=probe.dtype, read=lambda t: fn(self.read(t)))


def array_movie(loaded: LoadedImage) -> Movie:
    """A movie over pixels already in memory (pages, Y, X, C)."""
    data = loaded.data
    t, y, x, c = data.shape
    return Movie((t, y, x, c), data.dtype, loaded.source_axes, data.__getitem__, list(loaded.notes))


def _check_frame_size(name: str, shape: tuple[int, ...], max_pixels: int) -> None:
    values = int(np.prod(shape[1:], dtype=np.int64))
    if values > max_pixels:
        raise BadInputError(
            f"{name}: frames of shape {tuple(shape[1:])} (Y, X, C) have {values:,} values each, above this "
            f"server's limit of {max_pixels:,} per frame"
        )


def _tiff_movie(name: str, series: tifffile.TiffPageSeries, axes: str, plan: PagePlan, notes: list[str]) -> Movie:
    def read(t: int) -> np.ndarray:
        try:
            return read_planned_page(series, plan, t)
        except (tifffile.TiffFileError, ValueError, OSError, KeyError, MemoryError) as exc:
            raise BadInputError(f"{name}: not a readable TIFF ({exc})") from exc
        except RuntimeError as exc:  # imagecodecs' decoder errors (DeflateError, LzwError, ...) are RuntimeErrors
            raise BadInputError(f"{name}: the TIFF's image data is corrupt ({type(exc).__name__}: {exc})") from exc

    return Movie((plan.pages, *plan.frame_shape), np.dtype(series.dtype), axes, read, notes)


@contextmanager
def open_movie(
    fh: IO[bytes], name: str, axes_hint: str | None = None, max_pixels: int = DEFAULT_MAX_PIXELS
) -> Iterator[Movie]:
    """Open an image as a lazy movie, valid inside the ``with`` block (``fh`` must stay open too).

    Parameters
    ----------
    fh : binary file
        The image (TIFF, PNG or JPEG), seekable.
    name : str
        For error messages.
    axes_hint : str, optional
        The job's ``params.axes``, as for ``imaging.io.read_image_bytes``.
    max_pixels : int
        Most values held at once: one frame (Y × X × C) of a TIFF read frame by frame, the whole
        image (pages × Y × X × C) of one read whole. Above it the image is refused (``BadInputError``).

    Yields
    ------
    Movie
        Frames equal to ``read_image_bytes(fh, name, axes_hint).data[t]``.
    """
    head = fh.read(4)
    fh.seek(0)
    if head in TIFF_MAGIC:
        try:
            tif = tifffile.TiffFile(fh)
        except (tifffile.TiffFileError, ValueError, OSError, IndexError, KeyError, TypeError, RuntimeError) as exc:
            log.debug("lazy TIFF open failed (%s): reading it whole", exc)
        else:
            with tif:
                planned = plan_series(tif, axes_hint)
                if planned is not None:
                    others = len(tif.series) - 1  # plan_series takes one series; the others differ in shape or dtype
                    notes = [f"{others} image(s) of another size in this TIFF were not analysed"] if others else []
                    notes += [f"axes from params: {axes_hint.upper()}"] if axes_hint else []
                    movie = _tiff_movie(name, *planned, notes)
                    _check_frame_size(name, movie.shape, max_pixels)
                    yield movie
                    return
        fh.seek(0)
    yield array_movie(read_image_bytes(fh, name, axes_hint, max_pixels))  # the reader's words for a broken file

"""One page (frame) of an image, without decoding the rest of a movie.

``imaging.io`` reads a whole image into (pages, Y, X, C). The viewer asks for one page at a time
(a movie's Play asks for every frame) and a tracking job streams a movie frame by frame, so for
TIFFs whose layout allows it only the TIFF pages (IFDs) of one frame are decoded: every channel of
it, in the order ``imaging.io`` would give. Layouts where that mapping is not certain are read whole.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import IO

import numpy as np
import tifffile

from cellkiosk.imaging.io import CHANNEL_AXES, PAGE_AXES, canonical_axes, read_image_bytes

log = logging.getLogger(__name__)
TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


class PageOutOfRangeError(LookupError):
    """The requested page is past the image's last one."""

    def __init__(self, pages: int) -> None:
        super().__init__(f"the image has {pages} page(s)")
        self.pages = pages


@dataclass(frozen=True)
class InputPage:
    """One page as (Y, X, C), with the axes the image's pixels came in (as ``LoadedImage.source_axes``)."""

    data: np.ndarray
    source_axes: str
    pages: int


@dataclass(frozen=True)
class PagePlan:
    """Where each canonical page of a TIFF series lies among the series' stored pages."""

    ifds: np.ndarray  # (pages, stored pages per page): series page indices, channel-major
    channel_axes: str  # channel axes among the leading (page-by-page) axes
    channel_shape: tuple[int, ...]
    page_axes: str  # axes of one stored page: Y, X and maybe S
    page_shape: tuple[int, ...]

    @property
    def pages(self) -> int:
        """How many canonical pages (frames) the series holds."""
        return len(self.ifds)

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        """(Y, X, C) of one canonical page."""
        sizes = dict(zip(self.page_axes, self.page_shape, strict=True))
        channels = int(np.prod([*self.channel_shape, *(n for a, n in sizes.items() if a in CHANNEL_AXES)]))
        return sizes["Y"], sizes["X"], channels


def plan_pages(shape: tuple[int, ...], axes: str, page_shape: tuple[int, ...], stored: int) -> PagePlan | None:
    """Map the canonical pages of a series onto its stored pages; None where the layout does not allow it.

    Parameters
    ----------
    shape, axes
        The series' shape and axis letters (tifffile's, or the job's ``params.axes``).
    page_shape
        The shape of one stored page; the series' shape must end with it.
    stored
        The number of stored pages, which must be the product of the leading dimensions.

    Returns
    -------
    PagePlan or None
        None unless the leading axes are page or channel axes and one stored page holds only
        Y, X and sample axes: then page ``n`` of ``imaging.io.canonical_axes`` is exactly the
        stored pages ``ifds[n]``, stacked in the channel order ``canonical_axes`` uses.
    """
    lead_n = len(shape) - len(page_shape)
    if lead_n < 0 or len(axes) != len(shape) or tuple(shape[lead_n:]) != tuple(page_shape):
        return None
    lead, tail = axes[:lead_n], axes[lead_n:]
    if int(np.prod(shape[:lead_n], dtype=np.int64)) != stored:
        return None  # e.g. a truncated ImageJ file: one IFD, the rest of the data after it
    if set(lead) - PAGE_AXES - CHANNEL_AXES or set(tail) - CHANNEL_AXES - {"Y", "X"}:
        return None
    if tail.count("Y") != 1 or tail.count("X") != 1:
        return None
    page_dims = [i for i, a in enumerate(lead) if a in PAGE_AXES]
    chan_dims = [i for i, a in enumerate(lead) if a in CHANNEL_AXES]
    index = np.arange(stored).reshape(shape[:lead_n]).transpose(page_dims + chan_dims)
    pages = int(np.prod([shape[i] for i in page_dims], dtype=np.int64))
    return PagePlan(
        ifds=index.reshape(pages, -1),
        channel_axes="".join(lead[i] for i in chan_dims),
        channel_shape=tuple(shape[i] for i in chan_dims),
        page_axes=tail,
        page_shape=tuple(page_shape),
    )


def plan_series(tif: tifffile.TiffFile, axes_hint: str | None) -> tuple[tifffile.TiffPageSeries, str, PagePlan] | None:
    """The first series of an open TIFF, its axes and its page plan; None where the layout needs the full read."""
    if not tif.series:
        return None
    series = tif.series[0]
    if sum(1 for s in tif.series if s.shape == series.shape and s.dtype == series.dtype) > 1:
        return None  # pages written one by one, one series each: imaging.io stacks them
    axes = axes_hint.upper() if axes_hint else series.axes
    plan = plan_pages(series.shape, axes, series.keyframe.shape, len(series.pages))
    if plan is None:
        log.debug("page-level read not possible for axes %s, shape %s: reading it whole", axes, series.shape)
        return None
    return series, axes, plan


def read_planned_page(series: tifffile.TiffPageSeries, plan: PagePlan, page: int) -> np.ndarray:
    """Decode the stored pages of canonical page ``page`` as (Y, X, C); tifffile's errors pass through."""
    if page >= plan.pages:
        raise PageOutOfRangeError(plan.pages)
    stored = series.asarray(key=[int(i) for i in plan.ifds[page]])
    data = stored.reshape(*plan.channel_shape, *plan.page_shape)  # one stored page comes without a leading axis
    return canonical_axes(data, plan.channel_axes + plan.page_axes)[0]


def read_tiff_page(fh: IO[bytes], axes_hint: str | None, page: int) -> InputPage | None:
    """Decode only ``page`` of a TIFF; None where the layout needs the full read."""
    try:
        with tifffile.TiffFile(fh) as tif:
            planned = plan_series(tif, axes_hint)
            if planned is None:
                return None
            series, axes, plan = planned
            data = read_planned_page(series, plan, page)
    except (tifffile.TiffFileError, ValueError, OSError, IndexError, KeyError, TypeError, RuntimeError) as exc:
        log.debug("page-level read failed (%s): reading it whole", exc)
        return None  # the full read gives the reader's own words for a broken file
    return InputPage(data, axes, plan.pages)


def read_input_page(fh: IO[bytes], name: str, axes_hint: str | None, page: int) -> InputPage:
    """Page ``page`` of an image as (Y, X, C), identical to ``read_image_bytes(...).data[page]``.

    Raises ``BadInputError`` for an unreadable image and ``PageOutOfRangeError`` past its last page.
    """
    head = fh.read(4)
    fh.seek(0)
    if head in TIFF_MAGIC:
        found = read_tiff_page(fh, axes_hint, page)
        if found is not None:
            return found
        fh.seek(0)
    loaded = read_image_bytes(fh, name, axes_hint)
    if page >= loaded.data.shape[0]:
        raise PageOutOfRangeError(loaded.data.shape[0])
    return InputPage(loaded.data[page], loaded.source_axes, loaded.data.shape[0])

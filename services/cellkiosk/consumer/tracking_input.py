"""A tracking job's inputs opened lazily: the movie (TIFF, or a zip of frames) and the user's label movie.

Frames are decoded when asked for (``imaging.movie.Movie``), so a job holds a few frames, not the
movie: ``max_image_pixels`` limits one frame, ``max_movie_pixels`` the whole movie (time and disk).
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from cellkiosk.consumer.batch import check_zip
from cellkiosk.consumer.context import JobContext
from cellkiosk.core.errors import BadInputError
from cellkiosk.core.settings import ConsumerSettings
from cellkiosk.core.storage import KeyNotFoundError
from cellkiosk.imaging.io import is_image_name
from cellkiosk.imaging.movie import Movie, open_movie

ZIP_ERRORS = (zipfile.BadZipFile, EOFError, NotImplementedError)  # corrupt, truncated, odd compression


def natural_key(name: str) -> list[Any]:
    """Sort key that puts ``frame2`` before ``frame10`` (digit runs compare as numbers)."""
    return [int(part) if part.isdecimal() else part.lower() for part in re.split(r"(\d+)", name)]


def read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str) -> bytes:
    """The bytes of one zip member, refused if it unpacks to more than its header says."""
    try:
        with zf.open(info) as fh:
            data = fh.read(info.file_size + 1)
    except ZIP_ERRORS as exc:
        raise BadInputError(f"{name}: not a readable zip ({exc})") from exc
    if len(data) > info.file_size:
        raise BadInputError(f"{name}: zip member '{info.filename}' is larger than its header says")
    return data


@contextmanager
def open_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, settings: ConsumerSettings) -> Iterator[Movie]:
    """One zip member as a lazy movie (its own limit: ``max_image_pixels``)."""
    with open_movie(io.BytesIO(read_member(zf, info, name)), info.filename, None, settings.max_image_pixels) as m:
        yield m


@contextmanager
def open_frame_zip(local: Path, name: str, settings: ConsumerSettings) -> Iterator[Movie]:
    """A zip of 2-D frames as one movie (T, Y, X, C) in natural name order; axes 'TYXS' for colour frames.

    Every member's size is checked when the zip is opened (one frame decoded at a time); a frame is
    read again from the zip each time it is asked for.
    """
    try:
        zf = zipfile.ZipFile(local)
    except ZIP_ERRORS as exc:
        raise BadInputError(f"{name}: not a readable zip ({exc})") from exc
    with zf:
        infos = check_zip(zf, name, settings.max_zip_members, settings.max_zip_bytes, settings.max_zip_ratio)
        members = sorted((i for i in infos if is_image_name(i.filename)), key=lambda i: natural_key(i.filename))
        if not members:
            raise BadInputError(f"{name}: the zip holds no image files (TIFF, PNG or JPEG)")
        first: Movie | None = None
        for info in members:
            with open_member(zf, info, name, settings) as member:  # headers only, where the layout allows
                shape = member.shape
            first = member if first is None else first
            if shape[0] != 1 or shape != first.shape:
                raise BadInputError(f"{name}: every frame in a movie zip must be one 2-D image of the same "
                                    f"size; '{info.filename}' is {shape[:3]} (pages, Y, X)")  # fmt: skip

        def read(t: int) -> np.ndarray:
            with open_member(zf, members[t], name, settings) as member:
                return member.frame(0)

        notes = [f"{len(members)} frames from the zip in natural name order, {len(infos) - len(members)} other "
                 "files ignored"]  # fmt: skip
        assert first is not None  # members is not empty
        yield Movie((len(members), *first.shape[1:]), first.dtype, "T" + first.source_axes, read, notes)


@contextmanager
def open_movie_file(local: Path, name: str, axes: str | None, settings: ConsumerSettings) -> Iterator[Movie]:
    """Open a movie (multi-page TIFF, or a zip of frames) as lazy (T, Y, X, C); BadInputError unless 2-D + time."""
    with ExitStack() as stack:
        if zipfile.is_zipfile(local):
            movie = stack.enter_context(open_frame_zip(local, name, settings))
        else:
            fh = stack.enter_context(local.open("rb"))
            movie = stack.enter_context(open_movie(fh, name, axes, settings.max_image_pixels))
        if "Z" in movie.source_axes.upper():
            raise BadInputError(f"{name}: axes '{movie.source_axes}' include Z; tracking works on 2-D "
                                "time-lapse movies (T×Y×X); if the pages are time points, pass params.axes "
                                "(e.g. 'TYX')")  # fmt: skip
        if movie.shape[0] < 2:
            raise BadInputError(f"{name}: a tracking job needs a movie of at least 2 frames, this is one 2-D image "
                                f"{movie.shape[1:3]}; send a multi-page TIFF (T×Y×X) or a zip of frames "
                                "(a stack read as colour needs params.axes, e.g. 'TYX')")  # fmt: skip
        if int(np.prod(movie.shape, dtype=np.int64)) > settings.max_movie_pixels:
            raise BadInputError(f"{name}: the movie has over {settings.max_movie_pixels:,} values, this "
                                "server's limit")  # fmt: skip
        yield movie


def copy_label_movie(ctx: JobContext, key: str, tmp: Path, out: np.ndarray) -> None:
    """Check the user's label movie (``params.labels``) against ``out`` (T, Y, X) and copy it there frame by frame."""
    local = tmp / "labels"
    try:
        ctx.storage.download_file(key, local)
    except KeyNotFoundError:
        raise BadInputError(f"params.labels: no upload with key '{key}' (it may have expired)") from None
    with open_movie_file(local, "params.labels", None, ctx.settings) as labels:
        if labels.shape[:3] != out.shape or labels.shape[3] != 1:
            raise BadInputError(f"params.labels: the label movie is {labels.shape} (T, Y, X, C) but the movie is "
                                f"{out.shape} (T, Y, X); they must match, with one channel of labels")  # fmt: skip
        for t, frame in enumerate(labels.frames()):
            if not np.issubdtype(frame.dtype, np.integer) or frame.min() < 0:
                raise BadInputError(f"params.labels: labels must be non-negative integers, got {frame.dtype}")
            out[t] = frame[..., 0]
    local.unlink()

"""The tracking pipeline's pure parts: movie reading, resizing, the archive and its GIF preview."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from cellkiosk.consumer.tracking_input import natural_key, open_movie_file
from cellkiosk.consumer.tracking_pipeline import PREVIEW_MAX_FRAMES, PREVIEW_MAX_PX, write_tracking_archive
from cellkiosk.core.errors import BadInputError
from cellkiosk.core.settings import ConsumerSettings
from cellkiosk.imaging.channels import select_channels
from cellkiosk.imaging.io import LoadedImage
from cellkiosk.tracking.ctc_io import validate_ctc
from cellkiosk.tracking.movie import track_movie
from tests.tracking.movies import paint

SETTINGS = ConsumerSettings()


def read_movie(path: Path, name: str, axes: str | None, settings: ConsumerSettings) -> LoadedImage:
    """The whole movie, frame by frame through the lazy reader (small test movies only)."""
    with open_movie_file(path, name, axes, settings) as movie:
        return LoadedImage(np.stack(list(movie.frames())), movie.source_axes, movie.notes)


def tiff(path: Path, data: np.ndarray, **kwargs: object) -> Path:
    tifffile.imwrite(path, data, **kwargs)  # type: ignore[arg-type]
    return path


def frame_zip(path: Path, frames: dict[str, np.ndarray]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, frame in frames.items():
            buf = io.BytesIO()
            tifffile.imwrite(buf, frame)
            zf.writestr(name, buf.getvalue())
    return path


def disks_movie(n_frames: int) -> list[np.ndarray]:
    """Two disks drifting right; the second divides at frame n_frames // 2."""
    frames = []
    for t in range(n_frames):
        disks = [(1, 40.0, 30.0 + 2 * t, 10.0)]
        if t < n_frames // 2:
            disks.append((2, 110.0, 60.0 + t, 12.0))
        else:
            disks += [(2, 98.0, 60.0 + t, 9.0), (3, 122.0, 60.0 + t, 9.0)]
        frames.append(paint((160, 160), disks))
    return frames


def test_natural_key_orders_numbered_frames() -> None:
    names = ["f10.tif", "f2.tif", "F1.tif", "f1b.tif", "a/f9.tif"]
    assert sorted(names, key=natural_key) == ["a/f9.tif", "F1.tif", "f1b.tif", "f2.tif", "f10.tif"]


def test_zip_of_frames_is_read_as_one_movie_in_natural_order(tmp_path: Path) -> None:
    frames = {f"t{t}.tif": np.full((8, 9), t, np.uint8) for t in (10, 2, 1, 9)}
    path = frame_zip(tmp_path / "m.zip", frames)
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("readme.txt", "not a frame")
    movie = read_movie(path, "m.zip", None, SETTINGS)
    assert movie.data.shape == (4, 8, 9, 1)
    assert movie.data[:, 0, 0, 0].tolist() == [1, 2, 9, 10]
    assert "1 other files ignored" in movie.notes[0]


def test_zip_of_colour_png_frames_stays_colour_and_maps_to_grey(tmp_path: Path) -> None:
    path = tmp_path / "png.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for t in range(3):
            buf = io.BytesIO()
            Image.fromarray(np.full((6, 7, 3), 10 * t, np.uint8)).save(buf, format="PNG")
            zf.writestr(f"frame_{t}.png", buf.getvalue())
    movie = read_movie(path, "png.zip", None, SETTINGS)
    assert movie.source_axes == "TYXS" and movie.data.shape == (3, 6, 7, 3)
    grey = select_channels(movie.data, 1, None, "nuclear", movie.source_axes)
    assert grey.shape == (3, 6, 7, 1) and grey[:, 0, 0, 0].tolist() == [0, 10, 20]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("single image", "at least 2 frames"),
        ("z stack", "include Z"),
        ("zip of unequal frames", "same size"),
        ("zip of one frame", "at least 2 frames"),
        ("zip of multi-page frames", "one 2-D image"),
    ],
)
def test_what_is_not_a_movie_is_refused_with_a_reason(tmp_path: Path, case: str, expected: str) -> None:
    small, other = np.zeros((8, 8), np.uint8), np.zeros((8, 9), np.uint8)
    paths = {
        "single image": lambda: tiff(tmp_path / "a.tif", small),
        "z stack": lambda: tiff(tmp_path / "z.ome.tif", np.zeros((3, 8, 8), np.uint8), metadata={"axes": "ZYX"}),
        "zip of unequal frames": lambda: frame_zip(tmp_path / "u.zip", {"1.tif": small, "2.tif": other}),
        "zip of one frame": lambda: frame_zip(tmp_path / "o.zip", {"1.tif": small}),
        "zip of multi-page frames": lambda: frame_zip(tmp_path / "p.zip", {"1.tif": np.zeros((2, 8, 8), np.uint8)}),
    }
    path = paths[case]()
    with pytest.raises(BadInputError, match=expected):
        read_movie(path, path.name, None, SETTINGS)


def test_z_stack_with_axes_hint_is_a_movie(tmp_path: Path) -> None:
    path = tiff(tmp_path / "z.ome.tif", np.zeros((3, 8, 8), np.uint8), metadata={"axes": "ZYX"})
    assert read_movie(path, "z.ome.tif", "TYX", SETTINGS).data.shape == (3, 8, 8, 1)


@pytest.mark.parametrize("kind", ["zip", "tiff"])
def test_the_image_limit_is_per_frame_and_the_movie_limit_for_the_whole(tmp_path: Path, kind: str) -> None:
    stack = np.arange(5 * 10 * 10).reshape(5, 10, 10).astype(np.uint16)
    if kind == "zip":
        path = frame_zip(tmp_path / "big.zip", {f"{t}.tif": frame for t, frame in enumerate(stack)})
    else:
        path = tiff(tmp_path / "big.tif", stack, photometric="minisblack", metadata={"axes": "TYX"})
    per_frame = SETTINGS.model_copy(update={"max_image_pixels": 100})  # the movie has 500 values
    assert np.array_equal(read_movie(path, path.name, None, per_frame).data[..., 0], stack)
    with pytest.raises(BadInputError, match="limit of 99"):
        read_movie(path, path.name, None, SETTINGS.model_copy(update={"max_image_pixels": 99}))
    with pytest.raises(BadInputError, match="the movie has over 499 values, this server's limit"):
        read_movie(path, path.name, None, per_frame.model_copy(update={"max_movie_pixels": 499}))


def test_archive_holds_consistent_tracked_movie_lineage_ctc_and_cells(tmp_path: Path) -> None:
    labels = disks_movie(12)
    raw = np.stack([(f > 0) * 100 + 10 for f in labels]).astype(np.uint16)[..., None]
    lineage = track_movie(labels, (r[..., 0] for r in raw))
    target = tmp_path / "r.zip"
    write_tracking_archive(target, "m", lineage, labels, raw, "m.tif", {"notes": []})
    with zipfile.ZipFile(target) as zf:
        tracked = tifffile.imread(io.BytesIO(zf.read("m_tracked.tif")))
        rows = list(csv.DictReader(io.StringIO(zf.read("cells.csv").decode())))
        tracks = json.loads(zf.read("lineage.json"))["tracks"]
        info = json.loads(zf.read("job.json"))
        zf.extractall(tmp_path, [n for n in zf.namelist() if n.startswith("ctc/")])
    assert tracked.shape == (12, 160, 160) and tracked.dtype == np.uint16
    assert len(rows) == info["cells"] == sum(len(np.unique(f)) - 1 for f in labels)
    assert list(rows[0])[:5] == ["image", "frame", "label", "track_id", "parent"]
    daughters = [t for t in tracks if t["parent"]]
    assert len(daughters) == 2 and len({d["parent"] for d in daughters}) == 1  # one division, two daughters
    for row in rows:  # the label in the tracked movie at the centroid is the row's track
        y, x = round(float(row["centroid_y"])), round(float(row["centroid_x"]))
        assert tracked[int(row["frame"]), y, x] == int(row["track_id"]) == int(row["label"])
    assert validate_ctc(tmp_path / "ctc") == []


def test_preview_is_an_animated_gif_of_at_most_100_frames_and_512_px(tmp_path: Path) -> None:
    labels = [paint((40, 600), [(1, 20.0, 20.0 + 3 * t, 8.0)]) for t in range(PREVIEW_MAX_FRAMES + 20)]
    raw = np.stack([(f > 0).astype(np.uint8) * 200 for f in labels])[..., None]
    target = tmp_path / "r.zip"
    write_tracking_archive(target, "big", track_movie(labels), labels, raw, "big.tif", {"notes": []})
    with zipfile.ZipFile(target) as zf, Image.open(io.BytesIO(zf.read("big_preview.gif"))) as gif:
        assert gif.format == "GIF" and gif.n_frames == PREVIEW_MAX_FRAMES
        assert max(gif.size) <= PREVIEW_MAX_PX and gif.size == (300, 20)  # every 2nd pixel of 600 x 40

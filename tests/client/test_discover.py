"""Which files a batch run takes, and where their results go."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from cellkiosk.client.discover import UsageError, discover


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def rels(files) -> list[str]:
    return [f.rel.as_posix() for f in files]


def test_images_found_recursively_hidden_and_other_files_skipped(tmp_path: Path) -> None:
    for name in ("a/1.tif", "a/b/2.PNG", "3.jpeg", "notes.txt", ".cache/4.png", "a/.5.png"):
        touch(tmp_path / name)
    files = discover([tmp_path])
    assert rels(files) == ["3.jpeg", "a/1.tif", "a/b/2.PNG"]
    assert [f.out_rel for f in files] == [PurePosixPath("3"), PurePosixPath("a/1"), PurePosixPath("a/b/2")]


def test_include_and_exclude_globs(tmp_path: Path) -> None:
    for name in ("p1/w1_dapi.tif", "p1/w1_gfp.tif", "p2/w2_dapi.tif", "p2/scan.zip"):
        touch(tmp_path / name)
    assert rels(discover([tmp_path], include=["*_dapi.tif"])) == ["p1/w1_dapi.tif", "p2/w2_dapi.tif"]
    assert rels(discover([tmp_path], exclude=["p2/*"])) == ["p1/w1_dapi.tif", "p1/w1_gfp.tif"]
    assert rels(discover([tmp_path], include=["*.zip", "*.tif"], exclude=["*gfp*"])) == [
        "p1/w1_dapi.tif",
        "p2/scan.zip",
        "p2/w2_dapi.tif",
    ]


def test_named_files_are_taken_as_they_are(tmp_path: Path) -> None:
    odd = touch(tmp_path / "deep" / "movie.ome")  # not an image suffix, but the user named it
    assert rels(discover([odd])) == ["movie.ome"]
    assert discover([odd], exclude=["*.ome"]) == []


def test_results_folder_inside_the_input_is_skipped(tmp_path: Path) -> None:
    touch(tmp_path / "a.png")
    touch(tmp_path / "results" / "a" / "a_overlay.png")
    assert rels(discover([tmp_path], results_dir=tmp_path / "results")) == ["a.png"]


def test_clashing_outputs_and_missing_paths_are_usage_errors(tmp_path: Path) -> None:
    touch(tmp_path / "a.png")
    touch(tmp_path / "a.tif")
    with pytest.raises(UsageError, match="would both write their results to 'a/'"):
        discover([tmp_path])
    with pytest.raises(UsageError, match="no such file or folder"):
        discover([tmp_path / "missing"])

"""The portal's view endpoints: labels and image as PNGs, view info, looking inside uploads."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import tifffile
from PIL import Image

from cellkiosk.gateway.routes.views import encode_labels_png, view_stride
from tests.fixtures.platform import Platform
from tests.integration.conftest import VAL_OTHER, VAL_SMALL, grey, val_png


def decode_labels_png(data: bytes) -> np.ndarray:
    """The inverse of the encoding the portal decodes: id = R + 256·G + 65536·B."""
    rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(np.uint32)
    return rgb[..., 0] | (rgb[..., 1] << 8) | (rgb[..., 2] << 16)


def test_labels_png_round_trips_every_id() -> None:
    labels = np.array([[0, 1, 255], [256, 65535, 65536], [(1 << 24) - 1, 70000, 12345]], dtype=np.uint32)
    assert np.array_equal(decode_labels_png(encode_labels_png(labels)), labels)


@pytest.mark.parametrize(("shape", "stride"), [((520, 696), 1), ((4096, 10), 1), ((4097, 100), 2), ((100, 20000), 5)])
def test_view_stride_keeps_the_longer_side_within_the_limit(shape: tuple[int, int], stride: int) -> None:
    assert view_stride(*shape) == stride
    assert -(-max(shape) // stride) <= 4096


def test_two_page_image_views(platform: Platform, tmp_path) -> None:
    stack = np.stack([grey(VAL_SMALL), grey(VAL_SMALL)[::-1]]).astype(np.uint16) * 100
    tifffile.imwrite(tmp_path / "pair.tif", stack, photometric="minisblack")
    job = platform.wait(platform.submit(platform.upload(tmp_path / "pair.tif")))
    assert job["status"] == "done", job
    http, job_id = platform.http, job["id"]

    [info] = http.get(f"/api/jobs/{job_id}/view").json()
    assert info | {"stem": "pair", "pages": 2, "height": 256, "width": 256, "stride": 1} == info
    assert (info["labels_file"], info["cells_file"]) == ("pair_labels.tif", "cells.csv")

    archive = zipfile.ZipFile(io.BytesIO(http.get(f"/api/jobs/{job_id}/result").content))
    labels = tifffile.imread(io.BytesIO(archive.read("pair_labels.tif")))
    for page in (0, 1):
        resp = http.get(f"/api/jobs/{job_id}/view/pair/labels.png", params={"page": page})
        assert resp.headers["content-type"] == "image/png" and "max-age" in resp.headers["cache-control"]
        assert np.array_equal(decode_labels_png(resp.content), labels[page])
        image = Image.open(io.BytesIO(http.get(f"/api/jobs/{job_id}/view/pair/image.png?page={page}").content))
        assert image.size == (256, 256) and image.mode == "RGB"
    shown = np.asarray(Image.open(io.BytesIO(http.get(f"/api/jobs/{job_id}/view/pair/image.png").content)))
    assert np.corrcoef(shown[..., 0].ravel(), stack[0].ravel())[0, 1] > 0.95  # the input, normalized

    assert http.get(f"/api/jobs/{job_id}/view/pair/labels.png?page=2").status_code == 404
    assert http.get(f"/api/jobs/{job_id}/view/other/image.png").status_code == 404
    assert http.get(f"/api/jobs/{job_id}/view/pair/labels.png?page=-1").status_code == 422


def test_batches_and_unfinished_jobs_have_no_view(platform: Platform) -> None:
    batch = platform.submit([platform.upload(val_png(VAL_SMALL)), platform.upload(val_png(VAL_OTHER))])
    queued = platform.submit(platform.upload(val_png(VAL_SMALL)))
    early = platform.http.get(f"/api/jobs/{queued}/view")
    assert early.status_code in (200, 409)  # 409 unless the consumer was quicker than us
    assert platform.wait(batch)["status"] == "done"
    resp = platform.http.get(f"/api/jobs/{batch}/view")
    assert resp.status_code == 400 and "children" in resp.json()["detail"]
    child = platform.http.get(f"/api/jobs/{batch}/children").json()[0]["id"]
    assert platform.http.get(f"/api/jobs/{child}/view").json()[0]["stem"] == VAL_SMALL
    assert platform.http.get("/api/jobs/nope/view").status_code == 404
    platform.wait(queued)


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def tiff_bytes(array: np.ndarray, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    tifffile.imwrite(buf, array, **kwargs)  # type: ignore[arg-type]
    return buf.getvalue()


UPLOADS = {
    "png": (val_png(VAL_SMALL).read_bytes(), "a.png", {"kind": "image", "width": 256, "height": 256, "pages": 1}),
    "ome tiff, 3 channels": (
        tiff_bytes(np.zeros((2, 3, 40, 50), np.uint16), metadata={"axes": "ZCYX"}, ome=True),
        "b.ome.tif",
        {"kind": "image", "pages": 2, "channels": 3, "height": 40, "width": 50, "dtype": "uint16"},
    ),
    "zip": (
        zip_bytes({"x/1.png": b"", "x/2.tif": b"", "notes.txt": b"", "__MACOSX/._1.png": b""}),
        "c.zip",
        {"kind": "zip", "images": 2, "error": None},
    ),
    "text": (b"hello", "d.png", {"kind": "unknown", "error": "d.png: not an image (expected TIFF"}),
    "empty": (b"", "e.tif", {"kind": "unknown", "error": "e.tif: file is empty"}),
    "zip without images": (zip_bytes({"a.txt": b"x"}), "f.zip", {"kind": "zip", "error": "f.zip: the zip holds no"}),
}


@pytest.mark.parametrize("case", UPLOADS)
def test_upload_info(platform: Platform, case: str) -> None:
    data, name, expected = UPLOADS[case]
    key = platform.upload_bytes(data, name)
    info = platform.http.get("/api/uploads/info", params={"key": key}).json()
    assert info["key"] == key and info["size"] == len(data)
    for field, value in expected.items():
        if isinstance(value, str) and field == "error":
            assert info[field].startswith(value), info
        else:
            assert info[field] == value, info


def test_upload_info_refuses_other_keys(platform: Platform) -> None:
    assert platform.http.get("/api/uploads/info", params={"key": "results/x/y.zip"}).status_code == 400
    assert platform.http.get("/api/uploads/info", params={"key": "uploads/nope/x.png"}).status_code == 404

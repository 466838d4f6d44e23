"""The platform on a real S3 server (SeaweedFS): uploads, presigned PUT/GET, results, zip fan-out."""

from __future__ import annotations

import io
import uuid
import zipfile

import httpx
import pytest
import tifffile

from tests.fixtures.platform import Platform
from tests.fixtures.seaweed import S3Server
from tests.integration.conftest import VAL_SMALL, val_png


def s3_platform(make_platform, server: S3Server) -> Platform:  # type: ignore[no-untyped-def]
    kwargs = {
        "endpoint_url": server.endpoint_url,
        "access_key": server.access_key,
        "secret_key": server.secret_key,
        "create_bucket": True,
    }
    return make_platform(storage_url=f"s3://ck-{uuid.uuid4().hex[:12]}/data", storage_kwargs=kwargs)  # type: ignore[no-any-return]


@pytest.mark.slow
def test_segmentation_end_to_end_on_s3(make_platform, seaweed_s3: S3Server, zip_with_corrupt_member: bytes) -> None:  # type: ignore[no-untyped-def]
    p = s3_platform(make_platform, seaweed_s3)
    assert p.http.get("/readyz").status_code == 200
    # large files skip the gateway: presigned PUT straight into the bucket
    data = val_png(VAL_SMALL).read_bytes()
    grant = p.http.post("/api/uploads/presign", json={"name": "nuclei.png", "size": len(data)}).json()
    assert grant["url"].startswith(seaweed_s3.endpoint_url)
    assert httpx.put(grant["url"], content=data).status_code == 200
    job = p.wait(p.submit(grant["key"]))
    assert job["status"] == "done", job
    # the result is a redirect to a presigned GET on the bucket
    resp = p.http.get(f"/api/jobs/{job['id']}/result")
    assert resp.status_code == 307 and resp.headers["location"].startswith(seaweed_s3.endpoint_url)
    archive = httpx.get(resp.headers["location"])
    assert archive.status_code == 200
    with zipfile.ZipFile(io.BytesIO(archive.content)) as zf:
        labels = tifffile.imread(io.BytesIO(zf.read("nuclei_labels.tif")))
    assert labels.shape == (256, 256)
    # a batch through multipart upload, fanned out in the bucket
    batch = p.wait(p.submit(p.upload_bytes(zip_with_corrupt_member, "plates.zip")))
    assert batch["status"] == "done" and batch["children"] == {"total": 3, "done": 2, "failed": 1}

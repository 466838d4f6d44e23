"""The client on a platform whose storage is a real S3 server (SeaweedFS): presigned PUT into the
bucket, results through the gateway's redirect to a presigned GET."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from cellkiosk.cli import main
from tests.client.conftest import SMALL, copy_image
from tests.client.test_batch import summary
from tests.fixtures.seaweed import S3Server


@pytest.mark.slow
def test_submit_through_presigned_s3_urls(make_platform, seaweed_s3: S3Server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    kwargs = {
        "endpoint_url": seaweed_s3.endpoint_url,
        "access_key": seaweed_s3.access_key,
        "secret_key": seaweed_s3.secret_key,
        "create_bucket": True,
    }
    p = make_platform(storage_url=f"s3://ck-{uuid.uuid4().hex[:12]}/data", storage_kwargs=kwargs, api_keys=["k"])
    copy_image(SMALL[0], tmp_path / "in" / "p1" / "a.png")
    out = tmp_path / "out"
    args = ["submit", str(tmp_path / "in"), "--out", str(out), "--server", p.url, "--api-key", "k"]
    assert main([*args, "--presign-above", "0", "-q"]) == 0  # the X-API-Key header does not upset S3
    assert summary(out)["p1/a.png"]["status"] == "done"
    assert (out / "p1" / "a" / "a_labels.tif").is_file()

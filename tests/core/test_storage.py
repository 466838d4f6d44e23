"""Both storage backends against the same contract: a local directory and a real SeaweedFS S3 server."""

from __future__ import annotations

import io
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from cellkiosk.core.errors import CellkioskError
from cellkiosk.core.storage import (
    InvalidKeyError,
    KeyNotFoundError,
    ObjectTooLargeError,
    Storage,
    StorageError,
    open_storage,
    validate_key,
)
from cellkiosk.core.storage_local import LocalStorage
from cellkiosk.core.storage_s3 import S3Storage
from tests.fixtures.seaweed import S3Server, free_ports

BAD_KEYS = ["", "../x", "/abs", "a/../../b", "a\\b", "a\x00b", "a//b", "a/./b", ".", "a/", "x\ny", "k" * 1025]


class NetworkBody(io.RawIOBase):
    """A non-seekable stream, like an HTTP request body."""

    def __init__(self, data: bytes) -> None:
        self._source = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._source.readinto(buffer)


def open_s3(server: S3Server, url: str, **options: Any) -> Storage:
    """open_storage on the test server with its credentials."""
    return open_storage(
        url, endpoint_url=server.endpoint_url, access_key=server.access_key, secret_key=server.secret_key, **options
    )


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest) -> Storage:
    """Each test below runs once per backend."""
    name = "local_storage" if request.param == "local" else "s3_storage"
    result: Storage = request.getfixturevalue(name)
    return result


def test_round_trip(storage: Storage, tmp_path: Path) -> None:
    storage.put_bytes("jobs/1/input.tif", b"pixels", content_type="image/tiff")
    storage.put_bytes("jobs/1/out/labels.tif", b"labels")
    storage.put_bytes("jobs/10/input.tif", b"other job")
    source = tmp_path / "model.bin"
    source.write_bytes(b"m" * 5000)
    storage.put_file("models/nuclear/model.bin", source)

    assert storage.get_bytes("jobs/1/input.tif") == b"pixels"
    assert storage.exists("jobs/1/out/labels.tif") and not storage.exists("jobs/1/out")
    assert storage.size("models/nuclear/model.bin") == 5000
    with storage.open_read("jobs/1/out/labels.tif") as fh:
        assert fh.read(3) + fh.read() == b"labels"
    storage.download_file("models/nuclear/model.bin", tmp_path / "copy.bin")
    assert (tmp_path / "copy.bin").read_bytes() == source.read_bytes()

    assert storage.list("jobs/1/") == ["jobs/1/input.tif", "jobs/1/out/labels.tif"]
    assert storage.list("jobs/1") == ["jobs/1/input.tif", "jobs/1/out/labels.tif", "jobs/10/input.tif"]
    assert storage.list("") == [*storage.list("jobs/"), "models/nuclear/model.bin"]
    assert storage.list("nothing/") == []

    assert storage.delete_prefix("jobs/1/") == 2
    assert storage.list("jobs/") == ["jobs/10/input.tif"]
    storage.delete("jobs/10/input.tif")
    storage.delete("jobs/10/input.tif")  # missing: no error
    assert storage.list("jobs/") == []
    with pytest.raises(InvalidKeyError):
        storage.delete_prefix("")


def test_put_stream_streams_and_overwrites(storage: Storage) -> None:
    data = bytes(range(256)) * 12_000  # ~3 MB, several chunks
    assert storage.put_stream("big.bin", io.BufferedReader(NetworkBody(data))) == len(data)
    assert storage.get_bytes("big.bin") == data
    assert storage.put_stream("big.bin", io.BytesIO(b"again"), max_bytes=5) == 5
    assert storage.get_bytes("big.bin") == b"again"


@pytest.mark.parametrize("size", [1000, 9 * 1024 * 1024], ids=["single-put", "multipart"])
def test_put_stream_over_limit_stores_nothing(storage: Storage, size: int) -> None:
    storage.put_bytes("old.bin", b"previous version")
    for key in ("new.bin", "old.bin"):
        with pytest.raises(ObjectTooLargeError):
            storage.put_stream(key, io.BytesIO(b"z" * size), max_bytes=size - 1)
    assert storage.list("") == ["old.bin"]
    assert storage.get_bytes("old.bin") == b"previous version"
    if isinstance(storage, LocalStorage):
        assert list((storage.root / ".tmp").iterdir()) == []
    if isinstance(storage, S3Storage):
        uploads = storage._client.list_multipart_uploads(Bucket=storage.bucket).get("Uploads", [])
        assert uploads == []


def test_missing_key(storage: Storage, tmp_path: Path) -> None:
    assert not storage.exists("no/such.tif")
    for read in (storage.get_bytes, storage.size, lambda k: storage.download_file(k, tmp_path / "x")):
        with pytest.raises(KeyNotFoundError):
            read("no/such.tif")
    with pytest.raises(KeyNotFoundError), storage.open_read("no/such.tif"):
        pass
    assert list(tmp_path.iterdir()) == ([tmp_path / "storage"] if isinstance(storage, LocalStorage) else [])
    assert issubclass(KeyNotFoundError, StorageError) and issubclass(StorageError, CellkioskError)


@pytest.mark.parametrize("key", BAD_KEYS)
def test_path_tricks_rejected(storage: Storage, key: str) -> None:
    with pytest.raises(InvalidKeyError):
        validate_key(key)
    with pytest.raises(InvalidKeyError):
        storage.put_bytes(key, b"x")
    with pytest.raises(InvalidKeyError):
        storage.get_bytes(key)
    with pytest.raises(InvalidKeyError):
        storage.delete(key)


def test_permissive_names_round_trip(storage: Storage) -> None:
    key = "Zellen/Kern färbung (2) #3, v=1 @x ~y.tif"
    storage.put_bytes(key, b"ok")
    assert storage.list("Zellen/") == [key]
    assert storage.get_bytes(key) == b"ok"


def test_local_never_writes_outside_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    storage = LocalStorage(tmp_path / "root")
    (storage.root / "link").symlink_to(outside, target_is_directory=True)
    for key in [*BAD_KEYS[1:7], "link/x", ".tmp/x"]:
        with pytest.raises(InvalidKeyError):
            storage.put_bytes(key, b"escape")
    assert list(outside.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outside", "root"]
    assert storage.list("") == []


def test_local_delete_prunes_empty_directories(local_storage: LocalStorage) -> None:
    local_storage.put_bytes("a/b/c/d.txt", b"x")
    local_storage.delete("a/b/c/d.txt")
    assert sorted(p.name for p in local_storage.root.iterdir()) == [".tmp"]


def test_presign_local_is_none(local_storage: LocalStorage) -> None:
    assert local_storage.presign_get("a.tif", 60, filename="a.tif") is None
    assert local_storage.presign_put("a.tif", 60) is None


def test_presigned_put_then_get(s3_storage: S3Storage) -> None:
    put_url = s3_storage.presign_put("uploads/cells.tif", 60, content_type="image/tiff")
    assert put_url is not None
    response = httpx.put(put_url, content=b"browser upload", headers={"Content-Type": "image/tiff"})
    assert response.status_code == 200, response.text
    assert s3_storage.get_bytes("uploads/cells.tif") == b"browser upload"

    get_url = s3_storage.presign_get("uploads/cells.tif", 60, filename="Zellen ä.tif")
    assert get_url is not None
    response = httpx.get(get_url)
    assert response.status_code == 200, response.text
    assert response.content == b"browser upload"
    assert response.headers["content-disposition"].startswith('attachment; filename="Zellen _.tif"')
    assert "filename*=UTF-8''Zellen%20%C3%A4.tif" in response.headers["content-disposition"]

    parts = urlsplit(get_url)
    query = dict(parse_qsl(parts.query))
    query["X-Amz-Signature"] = query["X-Amz-Signature"][::-1]
    assert httpx.get(urlunsplit(parts._replace(query=urlencode(query)))).status_code == 403


def test_s3_url_prefix_isolates_keys(seaweed_s3: S3Server, s3_storage: S3Storage) -> None:
    under = open_s3(seaweed_s3, f"s3://{s3_storage.bucket}/tenant/a")
    assert under.url == f"s3://{s3_storage.bucket}/tenant/a"
    under.put_bytes("x.tif", b"1")
    s3_storage.put_bytes("x.tif", b"2")
    assert under.list("") == ["x.tif"]
    assert s3_storage.list("") == ["tenant/a/x.tif", "x.tif"]
    assert under.delete_prefix("x") == 1 and s3_storage.get_bytes("x.tif") == b"2"


def test_check_passes(storage: Storage) -> None:
    storage.check()


def test_check_fails_for_missing_bucket_and_closed_port(seaweed_s3: S3Server) -> None:
    missing = open_s3(seaweed_s3, "s3://never-created")
    with pytest.raises(StorageError, match="never-created"):
        missing.check()

    closed_port = S3Server(f"http://127.0.0.1:{free_ports(1)[0]}", seaweed_s3.access_key, seaweed_s3.secret_key)
    closed = open_s3(closed_port, "s3://bucket", connect_timeout_s=1, max_attempts=1)
    started = time.monotonic()
    with pytest.raises(StorageError, match=closed_port.endpoint_url):
        closed.check()
    assert time.monotonic() - started < 5


def test_open_storage_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for url, root in [(f"file://{tmp_path}/a", "a"), (str(tmp_path / "b"), "b"), ("c/d", "c/d")]:
        storage = open_storage(url)
        assert isinstance(storage, LocalStorage) and storage.root == tmp_path / root
        assert storage.url == (tmp_path / root).as_uri()
        storage.check()
    for bad in ["", "ftp://host/x", "file://otherhost/x"]:
        with pytest.raises(ValueError):
            open_storage(bad)
    with pytest.raises(ValueError):
        open_storage("s3://", endpoint_url="http://127.0.0.1:1")


@pytest.mark.slow
def test_presigned_urls_name_the_public_endpoint(seaweed_s3: S3Server) -> None:
    # The services reach S3 at one address (compose: http://minio:9000), browsers at another (a published port).
    public = seaweed_s3.endpoint_url.replace("127.0.0.1", "localhost")
    bucket = f"test-{uuid.uuid4().hex[:16]}"
    storage = open_storage(
        f"s3://{bucket}",
        endpoint_url=seaweed_s3.endpoint_url,
        access_key=seaweed_s3.access_key,
        secret_key=seaweed_s3.secret_key,
        create_bucket=True,
        public_endpoint_url=public,
    )
    storage.put_bytes("results/a.txt", b"hello")
    url = storage.presign_get("results/a.txt", 60)
    assert url is not None and url.startswith(public + "/")
    assert httpx.get(url).content == b"hello"  # signed for the public host, and valid there
    put = storage.presign_put("uploads/b.txt", 60)
    assert put is not None and put.startswith(public + "/")
    assert httpx.put(put, content=b"up").status_code == 200
    assert storage.get_bytes("uploads/b.txt") == b"up"

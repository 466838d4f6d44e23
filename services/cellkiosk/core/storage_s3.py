"""Storage backend on S3 or an S3-compatible server (SeaweedFS, MinIO)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, BinaryIO, cast
from urllib.parse import quote

import boto3
from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from cellkiosk.core.storage import (
    CHUNK_BYTES,
    MAX_KEY_BYTES,
    InvalidKeyError,
    KeyNotFoundError,
    ObjectTooLargeError,
    Storage,
    StorageError,
    validate_key,
    validate_prefix,
)
from cellkiosk.core.storage_s3_ranges import RANGE_BUFFER_BYTES, RangedObject

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_MISSING_KEY_CODES = frozenset({"NoSuchKey", "NotFound", "404"})
_DENIED_CODES = frozenset({"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403"})
# Non-seekable uploads buffer one part per thread; 4 x 8 MiB bounds an upload's memory.
_TRANSFER = TransferConfig(max_concurrency=4)


def make_s3_client(
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    access_key: str | None = None,
    secret_key: str | None = None,
    connect_timeout_s: float = 5.0,
    max_attempts: int = 3,
) -> S3Client:
    """A boto3 S3 client (signature v4, path-style); credentials from the arguments or AWS's usual chain."""
    session = boto3.session.Session(aws_access_key_id=access_key, aws_secret_access_key=secret_key, region_name=region)
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        connect_timeout=connect_timeout_s,
        read_timeout=60,
        retries={"max_attempts": max_attempts, "mode": "standard"},
    )
    # Signature v4 needs some region; S3-compatible servers accept any, AWS defaults to us-east-1.
    return session.client(
        "s3", endpoint_url=endpoint_url, region_name=session.region_name or "us-east-1", config=config
    )


def attachment_disposition(filename: str) -> str:
    """A Content-Disposition value that makes browsers save the download as `filename` (RFC 6266)."""
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_" for ch in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


class _LimitedReader:
    """File-like view of `fh` that raises ObjectTooLargeError once more than `max_bytes` were read."""

    def __init__(self, fh: BinaryIO, max_bytes: int | None) -> None:
        self._fh = fh
        self._max_bytes = max_bytes
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        data = self._fh.read(size)
        self.bytes_read += len(data)
        if self._max_bytes is not None and self.bytes_read > self._max_bytes:
            raise ObjectTooLargeError(f"upload is larger than the limit of {self._max_bytes} bytes")
        return data


class _BodyIO(io.RawIOBase):
    """botocore's StreamingBody as a raw stream, so io.BufferedReader makes it a real BinaryIO."""

    def __init__(self, body: Any, where: str) -> None:
        self._body = body
        self._where = where

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            data = self._body.read(len(buffer))
        except BotoCoreError as exc:
            raise StorageError(f"reading {self._where} failed: {exc}") from exc
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._body.close()
        super().close()


class S3Storage(Storage):
    """Objects in one bucket, optionally under a key prefix ("s3://bucket/prefix")."""

    def __init__(self, client: S3Client, bucket: str, prefix: str = "", presign_client: S3Client | None = None) -> None:
        if not bucket:
            raise ValueError("S3 storage needs a bucket name: s3://bucket[/prefix]")
        prefix = validate_prefix(prefix.strip("/"))
        self._client = client
        # Presigned URLs name the endpoint clients reach (e.g. a published port), which may not be ours.
        self._presign_client = presign_client or client
        self.bucket = bucket
        self.prefix = prefix
        self._key_prefix = f"{prefix}/" if prefix else ""
        self.endpoint_url: str = client.meta.endpoint_url
        self.url = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"

    def __repr__(self) -> str:
        return f"S3Storage({self.url!r}, endpoint={self.endpoint_url!r})"

    def _full(self, key: str) -> str:
        full = self._key_prefix + validate_key(key)
        if len(full.encode("utf-8")) > MAX_KEY_BYTES:
            raise InvalidKeyError(f"storage key with prefix is longer than {MAX_KEY_BYTES} bytes: {key[:40]!r}...")
        return full

    @contextmanager
    def _errors(self, key: str | None = None) -> Iterator[None]:
        """Translate boto errors into KeyNotFoundError / StorageError that name the endpoint."""
        where = f"{self.url} at {self.endpoint_url}"
        try:
            yield
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            if code == "NoSuchBucket" or (key is None and code in _MISSING_KEY_CODES):
                raise StorageError(f"bucket {self.bucket!r} does not exist at {self.endpoint_url}") from exc
            if key is not None and code in _MISSING_KEY_CODES:
                raise KeyNotFoundError(f"no object {key!r} in {where}") from None
            if code in _DENIED_CODES:
                raise StorageError(f"access to {where} denied ({code}): check the S3 credentials") from exc
            raise StorageError(f"S3 request to {where} failed: {code} {error.get('Message', '')}") from exc
        except (BotoCoreError, Boto3Error) as exc:
            raise StorageError(f"S3 request to {where} failed: {exc}") from exc

    def create_bucket(self) -> None:
        """Create the bucket unless it exists already."""
        with self._errors():
            try:
                self._client.head_bucket(Bucket=self.bucket)
                return
            except ClientError as exc:
                if str(exc.response.get("Error", {}).get("Code")) not in _MISSING_KEY_CODES:
                    raise
            region = self._client.meta.region_name
            kwargs: dict[str, Any] = {"Bucket": self.bucket}
            if region and region != "us-east-1":  # AWS rejects an explicit us-east-1 constraint
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
            try:
                self._client.create_bucket(**kwargs)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
                    raise

    def put_stream(self, key: str, fh: BinaryIO, content_type: str | None = None, max_bytes: int | None = None) -> int:
        """Store what `fh` yields, chunk by chunk; return the byte count; over `max_bytes` store nothing."""
        full = self._full(key)
        reader = _LimitedReader(fh, max_bytes)
        extra = {"ContentType": content_type} if content_type else None
        # An upload that fails midway (ObjectTooLargeError included) never creates the object: a single
        # PUT is not sent and a multipart upload is aborted, so a previous version under the key survives.
        with self._errors(key):
            self._client.upload_fileobj(cast(BinaryIO, reader), self.bucket, full, ExtraArgs=extra, Config=_TRANSFER)
        return reader.bytes_read

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        """Store `data` under the key in one request."""
        full = self._full(key)
        with self._errors(key):
            if content_type:
                self._client.put_object(Bucket=self.bucket, Key=full, Body=data, ContentType=content_type)
            else:
                self._client.put_object(Bucket=self.bucket, Key=full, Body=data)

    @contextmanager
    def open_read(self, key: str) -> Iterator[BinaryIO]:
        """Open the object as a streaming (not seekable) reader."""
        full = self._full(key)
        with self._errors(key):
            body = self._client.get_object(Bucket=self.bucket, Key=full)["Body"]
        with io.BufferedReader(_BodyIO(body, f"{key!r} from {self.url}"), CHUNK_BYTES) as reader:
            yield reader

    @contextmanager
    def open_seekable(self, key: str) -> Iterator[BinaryIO]:
        """Random access by ranged GETs: a read fetches what it asks for (at least 256 KiB), not the object."""
        full, size = self._full(key), self.size(key)

        def get_range(start: int, stop: int) -> bytes:
            with self._errors(key):
                body = self._client.get_object(Bucket=self.bucket, Key=full, Range=f"bytes={start}-{stop - 1}")["Body"]
                return cast(bytes, body.read())

        with io.BufferedReader(RangedObject(size, get_range), RANGE_BUFFER_BYTES) as reader:
            yield cast(BinaryIO, reader)

    def exists(self, key: str) -> bool:
        """Whether an object is stored under the key."""
        try:
            self.size(key)
        except KeyNotFoundError:
            return False
        return True

    def size(self, key: str) -> int:
        """The object's size in bytes."""
        full = self._full(key)
        with self._errors(key):
            return int(self._client.head_object(Bucket=self.bucket, Key=full)["ContentLength"])

    def list(self, prefix: str) -> list[str]:
        """All keys that start with `prefix`, sorted."""
        full_prefix = self._key_prefix + validate_prefix(prefix)
        keys: list[str] = []
        with self._errors():
            for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full_prefix):
                keys.extend(obj["Key"][len(self._key_prefix) :] for obj in page.get("Contents", []))
        return sorted(keys)

    def delete(self, key: str) -> None:
        """Delete the object; a missing key is not an error."""
        full = self._full(key)
        with self._errors(key):
            self._client.delete_object(Bucket=self.bucket, Key=full)

    def delete_prefix(self, prefix: str) -> int:
        """Delete every key that starts with `prefix` (non-empty), 1000 per request; return how many."""
        if not validate_prefix(prefix):
            raise InvalidKeyError("refusing to delete everything: delete_prefix needs a non-empty prefix")
        keys = self.list(prefix)
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            with self._errors():
                response = self._client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": self._key_prefix + key} for key in batch], "Quiet": True},
                )
            if errors := response.get("Errors"):
                raise StorageError(f"deleting {len(errors)} objects under {prefix!r} in {self.url} failed: {errors[0]}")
        return len(keys)

    def presign_get(self, key: str, expires_s: int, filename: str | None = None) -> str | None:
        """A URL to GET the object for `expires_s` seconds; with `filename`, browsers save it under that name."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self._full(key)}
        if filename:
            params["ResponseContentDisposition"] = attachment_disposition(filename)
        with self._errors(key):
            return self._presign_client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_s)

    def presign_put(self, key: str, expires_s: int, content_type: str | None = None) -> str | None:
        """A URL to PUT the object for `expires_s` seconds; the upload must send `content_type` if given."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self._full(key)}
        if content_type:
            params["ContentType"] = content_type
        with self._errors(key):
            return self._presign_client.generate_presigned_url("put_object", Params=params, ExpiresIn=expires_s)

    def check(self) -> None:
        """Raise StorageError unless the endpoint answers and the bucket exists and is accessible."""
        with self._errors():
            self._client.head_bucket(Bucket=self.bucket)

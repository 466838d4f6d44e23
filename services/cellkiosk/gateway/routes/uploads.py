"""Uploads: multipart through the gateway, or a URL to upload to directly."""

from __future__ import annotations

import tempfile
import time
from pathlib import PurePosixPath
from typing import Annotated

from fastapi import APIRouter, Depends, File, HTTPException, Query, Request, UploadFile
from starlette.concurrency import run_in_threadpool

from cellkiosk.core.jobs import new_id, upload_prefix
from cellkiosk.core.storage import ObjectTooLargeError, safe_file_name
from cellkiosk.gateway.auth import check_rate
from cellkiosk.gateway.deps import CallerDep, MetricsDep, QueueDep, SettingsDep, StoreDep, require_api_key
from cellkiosk.gateway.schemas import PresignIn, PresignOut, UploadOut
from cellkiosk.gateway.signing import sign, verify

router = APIRouter(prefix="/api", tags=["uploads"], dependencies=[Depends(require_api_key)])


def too_large(settings_max: int) -> HTTPException:
    """413 naming the limit."""
    return HTTPException(413, f"file is larger than this server's upload limit of {settings_max:,} bytes")


@router.post("/uploads", status_code=201, response_model=UploadOut, summary="Upload one file (multipart 'file')")
def upload(
    file: Annotated[UploadFile, File(description="TIFF, PNG, JPEG or a zip of them")],
    storage: StoreDep,
    queue: QueueDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    caller: CallerDep,
) -> UploadOut:
    """Stream the file into storage under ``uploads/<id>/<name>``; it belongs to the caller's API key."""
    check_rate(queue, caller, "uploads", settings.uploads_per_minute)
    name = safe_file_name(file.filename)
    upload_id = new_id()
    key = f"{upload_prefix(upload_id)}{name}"
    try:
        size = storage.put_stream(key, file.file, content_type=file.content_type, max_bytes=settings.max_upload_bytes)
    except ObjectTooLargeError:
        metrics.uploads.labels("too_large").inc()
        raise too_large(settings.max_upload_bytes) from None
    queue.record_upload(upload_id, caller.owner, settings.upload_ttl_s)
    queue.schedule_cleanup(upload_prefix(upload_id), time.time() + settings.upload_ttl_s)
    metrics.uploads.labels("ok").inc()
    metrics.upload_bytes.inc(size)
    return UploadOut(key=key, name=file.filename or name, size=size)


@router.post("/uploads/presign", response_model=PresignOut, summary="Get a URL to upload a (large) file directly")
def presign(
    body: PresignIn, request: Request, storage: StoreDep, queue: QueueDep, settings: SettingsDep, caller: CallerDep
) -> PresignOut:
    """S3: a presigned PUT URL to the bucket. Local storage: a signed PUT URL on this gateway."""
    if body.size > settings.max_upload_bytes:
        raise too_large(settings.max_upload_bytes)
    check_rate(queue, caller, "uploads", settings.uploads_per_minute)
    upload_id = new_id()
    queue.record_upload(upload_id, caller.owner, settings.upload_ttl_s)
    key = f"{upload_prefix(upload_id)}{safe_file_name(body.name)}"
    expires = settings.presign_expires_s
    queue.schedule_cleanup(upload_prefix(upload_id), time.time() + settings.upload_ttl_s)
    url = storage.presign_put(key, expires, content_type=body.content_type)
    headers = {"Content-Type": body.content_type} if body.content_type else {}
    if url is None:
        expires_at = int(time.time()) + expires
        signature = sign(request.app.state.secret, key, body.size, expires_at)
        base = (settings.public_url or str(request.base_url)).rstrip("/")
        url = f"{base}/api/uploads/direct/{key}?max_bytes={body.size}&expires={expires_at}&sig={signature}"
    return PresignOut(key=key, url=url, headers=headers, expires_in_s=expires)


direct = APIRouter(prefix="/api", tags=["uploads"])  # authorised by the signature, not the API key


@direct.put(
    "/uploads/direct/{key:path}",
    status_code=201,
    response_model=UploadOut,
    summary="Upload to a URL from /api/uploads/presign (local storage)",
)
async def upload_direct(
    key: str,
    request: Request,
    storage: StoreDep,
    metrics: MetricsDep,
    max_bytes: Annotated[int, Query(ge=0)],
    expires: Annotated[int, Query()],
    sig: Annotated[str, Query()],
) -> UploadOut:
    """Stream the request body into storage if the URL's signature holds."""
    problem = verify(request.app.state.secret, key, max_bytes, expires, sig)
    if problem:
        raise HTTPException(403, problem)
    size = 0
    with tempfile.SpooledTemporaryFile(max_size=8 << 20) as spool:
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                raise HTTPException(413, f"body is larger than the {max_bytes:,} bytes announced to presign")
            spool.write(chunk)
        spool.seek(0)
        await run_in_threadpool(storage.put_stream, key, spool, request.headers.get("content-type"))  # type: ignore[arg-type]
    metrics.uploads.labels("ok").inc()
    metrics.upload_bytes.inc(size)
    return UploadOut(key=key, name=PurePosixPath(key).name, size=size)

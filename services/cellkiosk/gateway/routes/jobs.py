"""Jobs: create, look at, follow live, fetch the result, cancel."""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import AsyncIterator, Iterator
from pathlib import PurePosixPath
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from cellkiosk.core.errors import BadInputError
from cellkiosk.core.jobs import Job, JobStatus, JobType, events_channel
from cellkiosk.core.params import validate_params
from cellkiosk.core.storage import Storage
from cellkiosk.gateway.deps import ModelsDep, QueueDep, SettingsDep, StoreDep, require_api_key
from cellkiosk.gateway.schemas import CreatedJob, JobIn, JobOut

router = APIRouter(prefix="/api", tags=["jobs"], dependencies=[Depends(require_api_key)])
KEEPALIVE_S = 15.0


def _input_or_400(storage: Storage, key: str) -> str:
    if not key.startswith("uploads/"):
        raise HTTPException(400, f"input '{key}' is not an upload key (they start with 'uploads/')")
    try:
        if not storage.exists(key):
            raise HTTPException(400, f"no upload with key '{key}' (it may have expired); upload the file again")
    except ValueError as exc:
        raise HTTPException(400, f"bad input key '{key}': {exc}") from None
    return key


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=8,
        max_length=128,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="A unique value per job you mean to create (e.g. a UUID). Sending the same request again "
        "with the same key, e.g. after a timeout, returns the job the first one created instead of a second "
        "job; the key is remembered as long as jobs are kept.",
    ),
]


@router.post("/jobs", status_code=202, response_model=CreatedJob, summary="Create a job on uploaded input(s)")
def create_job(
    body: JobIn,
    response: Response,
    queue: QueueDep,
    storage: StoreDep,
    models: ModelsDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> CreatedJob:
    """Validate type, model, input and params, then queue the job (or a batch of children).

    With an ``Idempotency-Key`` header a repeated request creates nothing: it gets the first request's
    job (header ``Idempotent-Replayed: true``); the same key with a different body is a 422.
    """
    if body.type not in {t.value for t in JobType}:
        raise HTTPException(400, f"unknown job type '{body.type}'; known: {', '.join(t.value for t in JobType)}")
    try:
        card = models.get(body.model, body.type) if body.model else models.default_for(body.type)
        validate_params(body.type, body.params)
    except BadInputError as exc:
        raise HTTPException(400, str(exc)) from None
    if card is None:
        raise HTTPException(503, f"no model for '{body.type}' is installed on this server")
    keys = [_input_or_400(storage, k) for k in (body.inputs or [body.input or ""])]
    root = Job(
        type=body.type,
        model=card.name,
        input=None if body.inputs else keys[0],
        input_name=f"batch of {len(keys)}" if body.inputs else PurePosixPath(keys[0]).name,
        params=body.params,
    )
    if idempotency_key:
        fingerprint = hashlib.sha256(body.model_dump_json().encode()).hexdigest()[:32]
        first = queue.claim_request(idempotency_key, root.id, fingerprint, settings.job_ttl_s)
        if first is not None:
            first_id, first_fingerprint = first
            if first_fingerprint != fingerprint:
                raise HTTPException(
                    422, "this Idempotency-Key was already used for a different request; use a new key for a new job"
                )
            response.headers["Idempotent-Replayed"] = "true"
            existing = queue.get(first_id)
            return CreatedJob(id=first_id, status=existing.status if existing else JobStatus.QUEUED)
    try:
        if not body.inputs:
            queue.create(root)
            return CreatedJob(id=root.id, status=root.status)
        queue.create(root, enqueue=False)
        children = [
            Job(type=body.type, model=card.name, input=k, input_name=PurePosixPath(k).name, params=body.params,
                parent=root.id)
            for k in keys
        ]  # fmt: skip
        queue.add_children(root.id, children)
        return CreatedJob(id=root.id, status=root.status)
    except Exception:  # Redis failed mid-way: free the key so the client's retry can create the job
        if idempotency_key:
            queue.release_request(idempotency_key)
        raise


def _job_or_404(queue: QueueDep, job_id: str) -> Job:
    job = queue.get(job_id)
    if job is None:
        raise HTTPException(404, f"no job '{job_id}' (unknown, or expired after its retention time)")
    return job


@router.get("/jobs/{job_id}", response_model=JobOut, summary="A job's status, progress, timings")
def get_job(job_id: str, queue: QueueDep) -> JobOut:
    """The job as it is now."""
    return JobOut.from_job(_job_or_404(queue, job_id))


@router.get("/jobs/{job_id}/children", response_model=list[JobOut], summary="The jobs of a batch")
def get_children(job_id: str, queue: QueueDep) -> list[JobOut]:
    """Every child of a batch job, in input order."""
    _job_or_404(queue, job_id)
    return [JobOut.from_job(c) for c in (queue.get(i) for i in queue.children(job_id)) if c is not None]


@router.get(
    "/jobs/{job_id}/events",
    summary="Server-Sent Events: every change until the job ends",
    response_class=StreamingResponse,
)
async def job_events(job_id: str, request: Request, queue: QueueDep) -> StreamingResponse:
    """Stream ``event: job`` messages (JSON of GET /api/jobs/{id}) until the job is finished."""
    await run_in_threadpool(_job_or_404, queue, job_id)
    aredis = request.app.state.aredis

    async def stream() -> AsyncIterator[str]:
        pubsub = aredis.pubsub()
        await pubsub.subscribe(events_channel(job_id))
        try:
            job = await run_in_threadpool(queue.get, job_id)  # read after subscribing: no change is missed
            while job is not None:
                yield f"event: job\ndata: {JobOut.from_job(job).model_dump_json()}\n\n"
                if job.status.terminal:
                    return
                job = None
                while job is None:
                    if await request.is_disconnected():
                        return
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=KEEPALIVE_S)
                    if message is None:
                        yield ": keep-alive\n\n"
                    else:
                        job = Job.model_validate_json(message["data"])
        finally:
            await pubsub.unsubscribe()
            await pubsub.aclose()

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )


def done_or_409(queue: QueueDep, storage: Storage, job_id: str) -> tuple[Job, str]:
    job = _job_or_404(queue, job_id)
    if job.status != JobStatus.DONE:
        detail = f"job is {job.status.value}" + (f": {job.error}" if job.error else "; the result is not ready yet")
        raise HTTPException(409, detail)
    if not job.output or not storage.exists(job.output):
        raise HTTPException(410, "the result has expired")
    return job, job.output


@router.get("/jobs/{job_id}/result", summary="The result archive (zip)", response_class=StreamingResponse)
def get_result(job_id: str, queue: QueueDep, storage: StoreDep, settings: SettingsDep) -> Response:
    """Stream the archive (local storage) or redirect to a presigned download URL (S3)."""
    _, key = done_or_409(queue, storage, job_id)
    filename = PurePosixPath(key).name
    url = storage.presign_get(key, settings.presign_expires_s, filename=filename)
    if url:
        return RedirectResponse(url, status_code=307)

    def body() -> Iterator[bytes]:
        with storage.open_read(key) as fh:
            while chunk := fh.read(1 << 20):
                yield chunk

    return StreamingResponse(
        body(),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Content-Length": str(storage.size(key))},
    )


def _archive_member(storage: Storage, key: str, name: str | None) -> list[str] | bytes:
    with storage.open_seekable(key) as fh:  # the central directory and one member, not the archive
        with zipfile.ZipFile(fh) as zf:
            if name is None:
                return zf.namelist()
            if name not in zf.namelist():
                raise HTTPException(404, f"no file '{name}' in the result; see /files for the list")
            return zf.read(name)


@router.get("/jobs/{job_id}/files", response_model=list[str], summary="Files in the result archive")
def list_files(job_id: str, queue: QueueDep, storage: StoreDep) -> list[str]:
    """Names of the files in the result archive."""
    _, key = done_or_409(queue, storage, job_id)
    names = _archive_member(storage, key, None)
    assert isinstance(names, list)
    return names


MEDIA = {".csv": "text/csv", ".png": "image/png", ".tif": "image/tiff", ".json": "application/json"}


@router.get("/jobs/{job_id}/files/{name:path}", summary="One file of the result archive")
def get_file(job_id: str, name: str, queue: QueueDep, storage: StoreDep) -> Response:
    """One file (labels TIFF, overlay PNG, cells.csv, job.json) without the whole archive."""
    _, key = done_or_409(queue, storage, job_id)
    data = _archive_member(storage, key, name)
    assert isinstance(data, bytes)
    suffix = PurePosixPath(name).suffix.lower()
    return Response(
        data,
        media_type=MEDIA.get(suffix, "application/octet-stream"),
        headers={"Content-Disposition": f'inline; filename="{PurePosixPath(name).name}"'},
    )


@router.delete("/jobs/{job_id}", response_model=JobOut, summary="Cancel a job")
def cancel_job(job_id: str, queue: QueueDep, settings: SettingsDep) -> JobOut:
    """Queued jobs stop at once; running ones at their next stage boundary."""
    _job_or_404(queue, job_id)
    job = queue.request_cancel(job_id, settings.job_ttl_s)
    if job is None:
        raise HTTPException(404, f"no job '{job_id}'")
    return JobOut.from_job(job)

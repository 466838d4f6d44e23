"""Jobs: create, look at, follow live, fetch the result, cancel."""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import AsyncIterator, Iterator
from pathlib import PurePosixPath
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from cellkiosk.core.errors import BadInputError
from cellkiosk.core.jobs import Job, JobStatus, JobType, events_channel
from cellkiosk.core.params import validate_params
from cellkiosk.core.queue import JobQueue
from cellkiosk.core.storage import Storage
from cellkiosk.gateway.auth import Caller, check_active, check_rate
from cellkiosk.gateway.deps import CallerDep, ModelsDep, QueueDep, SettingsDep, StoreDep, require_api_key
from cellkiosk.gateway.schemas import CreatedJob, JobIn, JobOut

router = APIRouter(prefix="/api", tags=["jobs"], dependencies=[Depends(require_api_key)])
KEEPALIVE_S = 15.0


def owned_upload_or_404(queue: JobQueue, caller: Caller, key: str) -> None:
    """404 (as if it did not exist) for an upload another API key made."""
    upload_id = key.removeprefix("uploads/").partition("/")[0]
    if not caller.may_access(queue.upload_owner(upload_id)):
        raise HTTPException(404, f"no upload with key '{key}' (it may have expired); upload the file again")


def _input_or_400(queue: JobQueue, storage: Storage, caller: Caller, key: str) -> str:
    if not key.startswith("uploads/"):
        raise HTTPException(400, f"input '{key}' is not an upload key (they start with 'uploads/')")
    try:
        if not storage.exists(key):
            raise HTTPException(400, f"no upload with key '{key}' (it may have expired); upload the file again")
    except ValueError as exc:
        raise HTTPException(400, f"bad input key '{key}': {exc}") from None
    owned_upload_or_404(queue, caller, key)
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
    caller: CallerDep,
    idempotency_key: IdempotencyKey = None,
) -> CreatedJob:
    """Validate type, model, input and params, then queue the job (or a batch of children).

    With an ``Idempotency-Key`` header a repeated request creates nothing: it gets the first request's
    job (header ``Idempotent-Replayed: true``); the same key with a different body is a 422. Over this
    API key's rate or active-job limit: 429 with ``Retry-After``.
    """
    check_rate(queue, caller, "job creations", settings.jobs_per_minute)
    check_active(queue, caller, settings.max_active_jobs)
    if body.type not in {t.value for t in JobType}:
        raise HTTPException(400, f"unknown job type '{body.type}'; known: {', '.join(t.value for t in JobType)}")
    try:
        card = models.get(body.model, body.type) if body.model else models.default_for(body.type)
        validate_params(body.type, body.params)
    except BadInputError as exc:
        raise HTTPException(400, str(exc)) from None
    if card is None:
        raise HTTPException(503, f"no model for '{body.type}' is installed on this server")
    keys = [_input_or_400(queue, storage, caller, k) for k in (body.inputs or [body.input or ""])]
    root = Job(
        owner=caller.owner,
        type=body.type,
        model=card.name,
        input=None if body.inputs else keys[0],
        input_name=f"batch of {len(keys)}" if body.inputs else PurePosixPath(keys[0]).name,
        params=body.params,
    )
    if idempotency_key:  # scoped to the caller: another key's request is another request
        fingerprint = hashlib.sha256(body.model_dump_json().encode()).hexdigest()[:32]
        scoped = f"{caller.owner}:{idempotency_key}"
        first = queue.claim_request(scoped, root.id, fingerprint, settings.job_ttl_s)
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
        queue.index_job(root, settings.job_ttl_s)
        if not body.inputs:
            queue.create(root)
            return CreatedJob(id=root.id, status=root.status)
        queue.create(root, enqueue=False)
        children = [
            Job(type=body.type, model=card.name, input=k, input_name=PurePosixPath(k).name, params=body.params,
                parent=root.id, owner=caller.owner)
            for k in keys
        ]  # fmt: skip
        queue.add_children(root.id, children)
        return CreatedJob(id=root.id, status=root.status)
    except Exception:  # Redis failed mid-way: free the key so the client's retry can create the job
        if idempotency_key:
            queue.release_request(scoped)
        raise


def _job_or_404(queue: JobQueue, job_id: str, caller: Caller) -> Job:
    """The job, or 404 when it is unknown, expired or another API key's (the same answer for all three)."""
    job = queue.get(job_id)
    if job is None or not caller.may_access(job.owner):
        raise HTTPException(404, f"no job '{job_id}' (unknown, or expired after its retention time)")
    return job


@router.get("/jobs", response_model=list[JobOut], summary="Your jobs, newest first (the admin key: everybody's)")
def list_jobs(queue: QueueDep, caller: CallerDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[JobOut]:
    """Top-level jobs (batches once) this API key created and that have not expired."""
    owner = None if caller.admin else caller.owner
    ids = queue.listed_jobs(owner, limit)
    jobs = [queue.get(i) for i in ids]
    queue.unlist_jobs(owner, [i for i, j in zip(ids, jobs, strict=True) if j is None])
    return [JobOut.from_job(j) for j in jobs if j is not None and caller.may_access(j.owner)]


@router.get("/jobs/{job_id}", response_model=JobOut, summary="A job's status, progress, timings")
def get_job(job_id: str, queue: QueueDep, caller: CallerDep) -> JobOut:
    """The job as it is now."""
    return JobOut.from_job(_job_or_404(queue, job_id, caller))


@router.get("/jobs/{job_id}/children", response_model=list[JobOut], summary="The jobs of a batch")
def get_children(job_id: str, queue: QueueDep, caller: CallerDep) -> list[JobOut]:
    """Every child of a batch job, in input order."""
    _job_or_404(queue, job_id, caller)
    return [JobOut.from_job(c) for c in (queue.get(i) for i in queue.children(job_id)) if c is not None]


@router.get(
    "/jobs/{job_id}/events",
    summary="Server-Sent Events: every change until the job ends",
    response_class=StreamingResponse,
)
async def job_events(job_id: str, request: Request, queue: QueueDep, caller: CallerDep) -> StreamingResponse:
    """Stream ``event: job`` messages (JSON of GET /api/jobs/{id}) until the job is finished."""
    await run_in_threadpool(_job_or_404, queue, job_id, caller)
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


def done_or_409(queue: JobQueue, storage: Storage, job_id: str, caller: Caller) -> tuple[Job, str]:
    """A finished job's archive key; 404 as :func:`_job_or_404`, 409 while not done, 410 once expired."""
    job = _job_or_404(queue, job_id, caller)
    if job.status != JobStatus.DONE:
        detail = f"job is {job.status.value}" + (f": {job.error}" if job.error else "; the result is not ready yet")
        raise HTTPException(409, detail)
    if not job.output or not storage.exists(job.output):
        raise HTTPException(410, "the result has expired")
    return job, job.output


@router.get("/jobs/{job_id}/result", summary="The result archive (zip)", response_class=StreamingResponse)
def get_result(job_id: str, queue: QueueDep, storage: StoreDep, settings: SettingsDep, caller: CallerDep) -> Response:
    """Stream the archive (local storage) or redirect to a presigned download URL (S3)."""
    _, key = done_or_409(queue, storage, job_id, caller)
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
def list_files(job_id: str, queue: QueueDep, storage: StoreDep, caller: CallerDep) -> list[str]:
    """Names of the files in the result archive."""
    _, key = done_or_409(queue, storage, job_id, caller)
    names = _archive_member(storage, key, None)
    assert isinstance(names, list)
    return names


MEDIA = {".csv": "text/csv", ".png": "image/png", ".tif": "image/tiff", ".json": "application/json"}


@router.get("/jobs/{job_id}/files/{name:path}", summary="One file of the result archive")
def get_file(job_id: str, name: str, queue: QueueDep, storage: StoreDep, caller: CallerDep) -> Response:
    """One file (labels TIFF, overlay PNG, cells.csv, job.json) without the whole archive."""
    _, key = done_or_409(queue, storage, job_id, caller)
    data = _archive_member(storage, key, name)
    assert isinstance(data, bytes)
    suffix = PurePosixPath(name).suffix.lower()
    return Response(
        data,
        media_type=MEDIA.get(suffix, "application/octet-stream"),
        headers={"Content-Disposition": f'inline; filename="{PurePosixPath(name).name}"'},
    )


@router.delete("/jobs/{job_id}", response_model=JobOut, summary="Cancel a job")
def cancel_job(job_id: str, queue: QueueDep, settings: SettingsDep, caller: CallerDep) -> JobOut:
    """Queued jobs stop at once; running ones at their next stage boundary."""
    _job_or_404(queue, job_id, caller)
    job = queue.request_cancel(job_id, settings.job_ttl_s)
    if job is None:
        raise HTTPException(404, f"no job '{job_id}'")
    return JobOut.from_job(job)

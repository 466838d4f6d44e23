"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import redis.asyncio as aioredis
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles

import cellkiosk
from cellkiosk.core.jobs import JobType
from cellkiosk.core.queue import JobQueue
from cellkiosk.core.settings import GatewaySettings
from cellkiosk.core.storage import InvalidKeyError, Storage, StorageError
from cellkiosk.gateway.metrics import GatewayMetrics
from cellkiosk.gateway.routes import jobs, lineage, meta, uploads, views
from cellkiosk.gateway.signing import load_or_create_secret
from cellkiosk.inference.store import ModelStore

REPO_FRONTEND = Path(__file__).resolve().parents[3] / "frontend"
DESCRIPTION = """Upload microscopy images, run deep-learning analyses (segmentation), follow progress,
download results. Typical flow: `POST /api/uploads` → `POST /api/jobs` → `GET /api/jobs/{id}/events`
→ `GET /api/jobs/{id}/result`."""


def create_app(
    settings: GatewaySettings, queue: JobQueue, storage: Storage, models: ModelStore, redis_url: str
) -> FastAPI:
    """Build the gateway around clients made by the caller (``main`` or a test)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.aredis = aioredis.Redis.from_url(redis_url, decode_responses=True, socket_timeout=30)
        for job_type in JobType:
            queue.ensure_group(job_type.value)
        yield
        await app.state.aredis.aclose()

    app = FastAPI(title="cellkiosk", version=cellkiosk.__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.settings, app.state.queue, app.state.storage, app.state.models = settings, queue, storage, models
    app.state.metrics = GatewayMetrics(queue)
    secret = settings.secret_key.get_secret_value().encode() if settings.secret_key else None
    app.state.secret = secret or load_or_create_secret(settings.data_dir)

    @app.middleware("http")
    async def reject_oversized(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        length = request.headers.get("content-length")
        if request.url.path == "/api/uploads" and length and length.isdigit():
            if int(length) > settings.max_upload_bytes + (1 << 20):  # + room for multipart headers
                return JSONResponse(
                    {
                        "detail": f"file is larger than this server's upload limit of "
                        f"{settings.max_upload_bytes:,} bytes"
                    },
                    status_code=413,
                )
        return await call_next(request)

    @app.exception_handler(InvalidKeyError)
    async def bad_key(_: Request, exc: InvalidKeyError) -> JSONResponse:
        return JSONResponse({"detail": f"bad key: {exc}"}, status_code=400)

    @app.exception_handler(StorageError)
    async def storage_down(_: Request, exc: StorageError) -> JSONResponse:
        return JSONResponse({"detail": f"storage unavailable: {exc}"}, status_code=503)

    for router in (uploads.router, uploads.direct, jobs.router, views.router, lineage.router, meta.api, meta.router):
        app.include_router(router)
    frontend = settings.frontend_dir or REPO_FRONTEND
    if (frontend / "index.html").exists():
        app.mount("/", StaticFiles(directory=frontend, html=True), name="portal")
    return app

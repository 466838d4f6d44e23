"""The FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import redis
import redis.asyncio as aioredis
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles

import cellkiosk
from cellkiosk.core.jobs import JobType
from cellkiosk.core.queue import JobQueue
from cellkiosk.core.settings import GatewaySettings
from cellkiosk.core.storage import InvalidKeyError, Storage, StorageError, StorageFullError
from cellkiosk.gateway.auth import KeyRing
from cellkiosk.gateway.metrics import GatewayMetrics
from cellkiosk.gateway.routes import jobs, lineage, meta, uploads, views
from cellkiosk.gateway.security import add_security
from cellkiosk.gateway.signing import load_or_create_secret
from cellkiosk.inference.store import ModelStore

# In a checkout (editable install) the portal is the repository's frontend/; images set CELLKIOSK_FRONTEND_DIR.
CHECKOUT_FRONTEND = Path(__file__).resolve().parents[3] / "frontend"
log = logging.getLogger(__name__)
RETRY_AFTER_S = 5  # what a 503 for Redis or storage being down asks clients to wait
MAX_REQUEST_BYTES = 4 << 20  # bodies other than uploads: a batch of 10,000 keys is ~0.6 MB of JSON


def is_upload(path: str) -> bool:
    """Whether a request path takes a file body (its own size limit applies)."""
    return path == "/api/uploads" or path.startswith("/api/uploads/direct/")


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
        try:
            for job_type in JobType:
                queue.ensure_group(job_type.value)
        except redis.RedisError as exc:  # consumers create the groups too; requests answer 503 meanwhile
            log.warning("redis unavailable at start", extra={"error": str(exc)})
        yield
        await app.state.aredis.aclose()

    app = FastAPI(title="cellkiosk", version=cellkiosk.__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.settings, app.state.queue, app.state.storage, app.state.models = settings, queue, storage, models
    app.state.metrics = GatewayMetrics(queue)
    secret = settings.secret_key.get_secret_value().encode() if settings.secret_key else None
    app.state.secret = secret or load_or_create_secret(settings.data_dir)
    app.state.keys = KeyRing.from_settings(settings)
    (log.warning if app.state.keys.open else log.info)("API access: " + app.state.keys.describe())
    add_security(app, settings.cors_origins)

    @app.middleware("http")
    async def reject_oversized(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > MAX_REQUEST_BYTES and not is_upload(request.url.path):
            detail = f"request body is larger than {MAX_REQUEST_BYTES:,} bytes (files go to POST /api/uploads)"
            return JSONResponse({"detail": detail}, status_code=413)
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
        headers = {"Retry-After": str(RETRY_AFTER_S)}
        return JSONResponse({"detail": f"storage unavailable: {exc}"}, status_code=503, headers=headers)

    @app.exception_handler(StorageFullError)
    async def storage_full(_: Request, exc: StorageFullError) -> JSONResponse:
        return JSONResponse({"detail": f"{exc}; the upload was not stored"}, status_code=507)

    @app.exception_handler(redis.RedisError)
    async def redis_down(_: Request, exc: redis.RedisError) -> JSONResponse:
        log.warning("redis unavailable", extra={"error": str(exc)})
        detail = "the job database (Redis) is unavailable; retry in a few seconds"
        return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)})

    for router in (uploads.router, uploads.direct, jobs.router, views.router, lineage.router, meta.api, meta.router):
        app.include_router(router)
    frontend = find_portal(settings.frontend_dir)
    if frontend is not None:
        app.mount("/", StaticFiles(directory=frontend, html=True), name="portal")
    else:
        app.include_router(portal_missing_router())
    return app


def find_portal(frontend_dir: Path | None, checkout: Path = CHECKOUT_FRONTEND) -> Path | None:
    """The portal's folder; an explicit one without index.html is a configuration error, no portal at all is logged.

    Without the portal the API still works: the gateway says so at start and at ``/`` instead of serving nothing.
    """
    if frontend_dir is not None:
        if not (frontend_dir / "index.html").is_file():
            raise SystemExit(f"CELLKIOSK_FRONTEND_DIR={frontend_dir} has no index.html (the web portal's files)")
        return frontend_dir
    if (checkout / "index.html").is_file():
        return checkout
    log.error(
        "web portal not found: serving the API only; set CELLKIOSK_FRONTEND_DIR to the portal's folder "
        "(frontend/ of the repository)",
        extra={"looked_in": str(checkout)},
    )
    return None


def portal_missing_router() -> APIRouter:
    """``GET /`` explaining that this gateway has no portal files (503), where the portal would be."""
    router = APIRouter()

    @router.get("/", include_in_schema=False)
    def no_portal() -> JSONResponse:
        detail = "this gateway has no web portal files (set CELLKIOSK_FRONTEND_DIR); the API is at /docs"
        return JSONResponse({"detail": detail}, status_code=503)

    return router

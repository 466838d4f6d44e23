"""Models, job types, health, readiness and metrics."""

from __future__ import annotations

from typing import Any

import redis
from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from cellkiosk.core.jobs import JOB_TYPE_DESCRIPTIONS, JobType
from cellkiosk.core.params import PARAMS_BY_TYPE
from cellkiosk.core.storage import StorageError
from cellkiosk.gateway.deps import MetricsDep, ModelsDep, QueueDep, StoreDep, require_api_key
from cellkiosk.gateway.schemas import JobTypeOut

router = APIRouter(tags=["platform"])
api = APIRouter(prefix="/api", tags=["platform"], dependencies=[Depends(require_api_key)])


@api.get("/models", summary="Installed models and their cards")
def list_models(models: ModelsDep) -> list[dict[str, Any]]:
    """Every model's card: inputs, pixel size, post-processing defaults, measured accuracy."""
    return [card.model_dump(mode="json") for card in models.cards()]


@api.get("/job-types", response_model=list[JobTypeOut], summary="Analyses this server runs")
def list_job_types(models: ModelsDep) -> list[JobTypeOut]:
    """Job types with their models and the JSON schema of their params."""
    out = []
    for job_type in JobType:
        default = models.default_for(job_type.value)
        out.append(
            JobTypeOut(
                name=job_type.value,
                description=JOB_TYPE_DESCRIPTIONS[job_type],
                default_model=default.name if default else None,
                models=[c.name for c in models.for_type(job_type.value)],
                params_schema=PARAMS_BY_TYPE[job_type.value].model_json_schema(),
            )
        )
    return out


@router.get("/healthz", summary="Liveness")
def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: Redis and storage reachable")
def readyz(queue: QueueDep, storage: StoreDep) -> dict[str, Any]:
    """503 naming what is down."""
    problems = []
    try:
        queue.redis.ping()
    except redis.RedisError as exc:
        problems.append(f"redis: {exc}")
    try:
        storage.check()
    except StorageError as exc:
        problems.append(f"storage: {exc}")
    if problems:
        raise HTTPException(503, "; ".join(problems))
    return {"status": "ready", "consumers": len(queue.consumers_alive())}


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {}}, "description": "Prometheus text format"}},
)
def metrics(m: MetricsDep) -> Response:
    """Jobs by type and status, stage durations, queue depth, upload bytes."""
    return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)

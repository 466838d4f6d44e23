"""FastAPI dependencies: the clients the app was built with, and API-key auth."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader, APIKeyQuery

from cellkiosk.core.queue import JobQueue
from cellkiosk.core.settings import GatewaySettings
from cellkiosk.core.storage import Storage
from cellkiosk.gateway.metrics import GatewayMetrics
from cellkiosk.inference.store import ModelStore

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)
api_key_query = APIKeyQuery(name="api_key", auto_error=False)  # for EventSource and plain links


def get_queue(request: Request) -> JobQueue:
    """The app's job queue."""
    return request.app.state.queue


def get_storage(request: Request) -> Storage:
    """The app's object storage."""
    return request.app.state.storage


def get_models(request: Request) -> ModelStore:
    """The app's model store."""
    return request.app.state.models


def get_settings(request: Request) -> GatewaySettings:
    """The app's settings."""
    return request.app.state.settings


def get_metrics(request: Request) -> GatewayMetrics:
    """The app's Prometheus metrics."""
    return request.app.state.metrics


QueueDep = Annotated[JobQueue, Depends(get_queue)]
StoreDep = Annotated[Storage, Depends(get_storage)]
ModelsDep = Annotated[ModelStore, Depends(get_models)]
SettingsDep = Annotated[GatewaySettings, Depends(get_settings)]
MetricsDep = Annotated[GatewayMetrics, Depends(get_metrics)]


def require_api_key(
    settings: SettingsDep,
    header_key: Annotated[str | None, Security(api_key_header)] = None,
    query_key: Annotated[str | None, Security(api_key_query)] = None,
) -> None:
    """When the server has API keys, every /api call must send one (X-API-Key header, or ?api_key=)."""
    key = header_key or query_key
    if not settings.api_keys:
        return
    if key is None or not any(secrets.compare_digest(key, k) for k in settings.api_keys):
        raise HTTPException(401, "this server requires an API key: send it in the X-API-Key header")

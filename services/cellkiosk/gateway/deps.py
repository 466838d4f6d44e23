"""FastAPI dependencies: the clients the app was built with, and API-key auth."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, APIKeyQuery

from cellkiosk.core.queue import JobQueue
from cellkiosk.core.settings import GatewaySettings
from cellkiosk.core.storage import Storage
from cellkiosk.gateway.auth import Caller, KeyRing
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
    request: Request,
    header_key: Annotated[str | None, Security(api_key_header)] = None,
    query_key: Annotated[str | None, Security(api_key_query)] = None,
) -> Caller:
    """Who calls: when the server has API keys, every /api call must send one (X-API-Key header, or ?api_key=)."""
    keys: KeyRing = request.app.state.keys
    return keys.caller(header_key or query_key)


CallerDep = Annotated[Caller, Depends(require_api_key)]

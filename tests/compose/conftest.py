"""The compose stack, built and started once for the module; only when asked for (it takes minutes)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.compose.stack import Stack, compose_stack, docker_daemon

VISIBILITY_TIMEOUT_S = 15
SKIP_REASON = "builds images and runs the docker compose stack (minutes): `make test-compose` or `pytest -k compose`"


def compose_wanted(config: pytest.Config) -> bool:
    """Selected by name (-k compose), by marker expression, or by `make test-compose` (CELLKIOSK_TEST_COMPOSE=1)."""
    chosen = f"{config.getoption('keyword') or ''} {config.getoption('markexpr') or ''}"
    return os.environ.get("CELLKIOSK_TEST_COMPOSE") == "1" or ("compose" in chosen and "not compose" not in chosen)


@pytest.fixture(scope="session")
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A running stack (stand-ins unless CELLKIOSK_COMPOSE_STANDINS=0), two segmentation consumers."""
    if not compose_wanted(request.config):
        pytest.skip(SKIP_REASON)
    standins = os.environ.get("CELLKIOSK_COMPOSE_STANDINS", "1") != "0"
    tmp = tmp_path_factory.mktemp("compose")
    with docker_daemon() as env, compose_stack(env, tmp, standins, VISIBILITY_TIMEOUT_S) as running:
        yield running

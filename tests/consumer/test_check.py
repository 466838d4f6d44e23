"""`cellkiosk consumer --check`: the health check finds a live consumer with or without --name."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.faults.procs import consumer_env, start_consumer, stop, wait_until


def check(env: dict[str, str], *args: str) -> int:
    return subprocess.run([sys.executable, "-m", "cellkiosk.consumer", "--check", *args], env=env).returncode


def test_check_without_name_finds_this_hosts_unnamed_consumer(make_platform: Any, tmp_path: Path) -> None:
    p = make_platform(workers=0)
    env = consumer_env(p.redis_url, str(p.storage.url), tmp_path)
    assert check(env) == 1  # nobody runs yet
    proc = subprocess.Popen([sys.executable, "-m", "cellkiosk.consumer"], env=env)  # no --name: host-pid
    named = start_consumer(env, "checked-by-name", tmp_path / "named.log")
    try:
        wait_until(lambda: check(env) == 0, 120, "the unnamed consumer's heartbeat")
        wait_until(lambda: check(env, "--name", "checked-by-name") == 0, 120, "the named consumer's heartbeat")
        assert check(env, "--name", "nobody-by-this-name") == 1
    finally:
        assert stop([proc, named]) == [0, 0]
    time.sleep(3.5)  # heartbeats live 3 x CELLKIOSK_HEARTBEAT_S
    assert check(env) == 1

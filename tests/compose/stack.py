"""Drive the docker compose stack for tests: a Docker daemon (a private one when none answers),
`docker/compose.sh` with the stand-ins, and the docker CLI for kills and restarts."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cellkiosk.core.embedded import free_port

REPO = Path(__file__).resolve().parents[2]
# Image layers of the private daemon outlive it, so a second run does not rebuild TensorFlow's layer.
DOCKERD_ROOT = Path(os.environ.get("CELLKIOSK_DOCKERD_ROOT", Path.home() / ".cache" / "cellkiosk" / "dockerd"))
DOCKER = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"


def docker_answers(env: dict[str, str]) -> bool:
    """Whether `docker info` gets an answer from the daemon ``env`` names."""
    try:
        return subprocess.run([DOCKER, "info"], env=env, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@contextmanager
def docker_daemon() -> Iterator[dict[str, str]]:
    """An environment whose DOCKER_HOST answers: the caller's daemon, else a private dockerd stopped on exit."""
    env = dict(os.environ)
    if docker_answers(env):
        yield env
        return
    if shutil.which("dockerd") is None or os.geteuid() != 0:
        raise RuntimeError(
            "no Docker daemon answers and none can be started here (needs root and `dockerd`: "
            "apt-get install docker.io docker-compose debootstrap)"
        )
    run = Path(tempfile.mkdtemp(prefix="ckd-", dir="/tmp"))  # short: containerd's socket paths are limited
    DOCKERD_ROOT.mkdir(parents=True, exist_ok=True)
    log = (run / "dockerd.log").open("wb")
    cmd = ["dockerd", "--data-root", str(DOCKERD_ROOT), "--exec-root", str(run / "exec"),
           "--pidfile", str(run / "pid"), "-H", f"unix://{run / 'sock'}"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    env["DOCKER_HOST"] = f"unix://{run / 'sock'}"
    try:
        deadline = time.monotonic() + 60
        while not docker_answers(env):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dockerd did not start; its log: {(run / 'dockerd.log').read_text()[-2000:]}")
            time.sleep(1)
        yield env
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(run, ignore_errors=True)


@dataclass
class Stack:
    """A running compose project: its URLs, its env file and how to reach its containers."""

    env: dict[str, str]
    project: str
    env_file: Path
    gateway_url: str
    s3_url: str
    settings: dict[str, str] = field(default_factory=dict)

    def compose(self, *args: str, timeout_s: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run docker/compose.sh (up/down/build) on this project."""
        return subprocess.run(
            ["bash", str(REPO / "docker" / "compose.sh"), *args],
            env=self.env,
            cwd=REPO,
            text=True,
            capture_output=True,
            timeout=timeout_s,
            check=check,
        )

    def docker(self, *args: str, timeout_s: float = 120) -> str:
        """Run the docker CLI against the stack's daemon; its stdout."""
        done = subprocess.run(
            [DOCKER, *args], env=self.env, text=True, capture_output=True, timeout=timeout_s, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def container(self, service: str, index: int = 1) -> str:
        """The container name of a service replica (compose 1.29 and v2 name them alike with `-` or `_`)."""
        names = self.names(service)
        wanted = [n for n in names if n.endswith(f"{index}")]
        if not wanted:
            raise RuntimeError(f"no container {index} of service {service} in {names}")
        return sorted(wanted)[0]

    def names(self, service: str | None = None) -> list[str]:
        """Names of the project's containers (of one service), running or not."""
        filters = ["--filter", f"label=com.docker.compose.project={self.project}"]
        if service:
            filters += ["--filter", f"label=com.docker.compose.service={service}"]
        return self.docker("ps", "-a", "--format", "{{.Names}}", *filters).split()

    def valkey_cli(self, *args: str) -> str:
        """A valkey-cli command inside the Valkey container."""
        return self.docker("exec", self.container("valkey"), "valkey-cli", *args)

    def logs(self) -> str:
        """The last lines of every container's log (for a failing test's report)."""
        out = []
        for name in self.names():
            done = subprocess.run([DOCKER, "logs", "--tail", "30", name], env=self.env, text=True, capture_output=True)
            out.append(f"--- {name}\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
        return "\n".join(out)


def stack_settings(visibility_timeout_s: int) -> dict[str, str]:
    """The env file of a test stack: free published ports, a password made now, a short visibility timeout."""
    gateway_port, s3_port = free_port(), free_port()
    return {
        "MINIO_ROOT_USER": "cellkiosk",
        "MINIO_ROOT_PASSWORD": uuid.uuid4().hex,
        "COMPOSE_PORT": str(gateway_port),
        "S3_PORT": str(s3_port),
        "S3_PUBLIC_URL": f"http://127.0.0.1:{s3_port}",
        "CELLKIOSK_VISIBILITY_TIMEOUT_S": str(visibility_timeout_s),
    }


@contextmanager
def compose_stack(env: dict[str, str], tmp: Path, standins: bool, visibility_timeout_s: int) -> Iterator[Stack]:
    """Build (with stand-ins) and start the stack with two segmentation consumers; down -v on exit."""
    settings = stack_settings(visibility_timeout_s)
    env_file = tmp / "compose.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    project = f"cktest{uuid.uuid4().hex[:8]}"
    env = {**env, "COMPOSE_ENV_FILE": str(env_file), "COMPOSE_PROJECT_NAME": project}
    env["STANDINS"] = "1" if standins else ""
    gateway_url = f"http://127.0.0.1:{settings['COMPOSE_PORT']}"
    stack = Stack(env, project, env_file, gateway_url, settings["S3_PUBLIC_URL"], settings)
    try:
        up = stack.compose("up", "--scale", "consumer-segmentation=2", timeout_s=3000, check=False)
        if up.returncode != 0:
            raise RuntimeError(f"make compose-up failed:\n{up.stdout[-4000:]}\n{up.stderr[-4000:]}")
        yield stack
    finally:
        stack.env["PURGE"] = "1"  # containers, network and the data volumes
        stack.compose("down", timeout_s=300, check=False)

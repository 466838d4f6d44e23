"""End-to-end throughput of the embedded platform: jobs/min and megapixels/s through the real REST API.

Starts ``cellkiosk up --consumers K`` as a subprocess (private Valkey, local storage in a fresh temporary
directory, in-process TensorFlow, the shipped models), uploads the first N images of a DSB2018 split and
modality, then measures two phases on warm consumers (a warm-up job per consumer runs first and is not counted,
because each consumer loads TensorFlow and the model on its first job):

1. individual jobs: N segmentation jobs created as fast as possible; wall time from the first job's creation
   to the last job's finish, jobs/min, megapixels/s, per-job latency (created -> finished) median/p90 and the
   median of each stage timing the consumers report;
2. one batch: the same N images in one zip, one job that fans out into N children and collects their results;
   its wall time against phase 1 shows the fan-out/collect overhead.

Times are the server's ``created_at``/``finished_at`` (same host), so polling granularity does not enter them.
Usage: ``python benchmarks/platform_throughput.py [--images 24] [--consumers 1] [--out result.json]``
(``make bench`` runs it with the defaults).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import httpx

REPO = Path(__file__).resolve().parents[1]
VENV_PYTHON = REPO / ".venv/bin/python"
STAGES = ("download", "preprocess", "predict", "postprocess", "measure", "upload")
TERMINAL = {"done", "failed", "cancelled"}
READY_TIMEOUT_S = 120.0
JOBS_TIMEOUT_S = 30 * 60.0
STOP_GRACE_S = 60.0
POLL_S = 0.5
Job = dict[str, Any]


@dataclass(frozen=True)
class Sample:
    """One input image of the benchmark."""

    id: str
    path: Path
    megapixels: float


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; ``--data`` is resolved against the repository root."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=24, help="number of images (N)")
    p.add_argument("--consumers", type=int, default=1, help="consumer processes (cellkiosk up --consumers K)")
    p.add_argument("--data", default="../shared/data/dsb2018", help="DSB2018 folder with index.csv and images/")
    p.add_argument("--split", default="val")
    p.add_argument("--modality", default="fluorescence")
    p.add_argument("--out", help="also write the JSON report here")
    p.add_argument("--port", type=int, default=None, help="gateway port (default: a free one)")
    args = p.parse_args(argv)
    args.data = (REPO / args.data).resolve()
    args.port = args.port or free_port()
    if args.images < 1 or args.consumers < 1:
        p.error("--images and --consumers must be at least 1")
    return args


def pick_images(data_dir: Path, split: str, modality: str, n: int) -> list[Sample]:
    """The first ``n`` images of ``split``/``modality`` in ``index.csv``, in file order."""
    samples = []
    with (data_dir / "index.csv").open(newline="") as fh:
        for row in csv.DictReader(fh):
            if row["split"] == split and row["modality"] == modality:
                mp = int(row["height"]) * int(row["width"]) / 1e6
                samples.append(Sample(row["id"], data_dir / "images" / f"{row['id']}.png", mp))
            if len(samples) == n:
                return samples
    raise SystemExit(f"only {len(samples)} {modality} images in split '{split}' of {data_dir}, asked for {n}")


# the gateway's per-key limits off: a harness that queues jobs faster than a user would is not a user
NO_LIMITS = {"CELLKIOSK_JOBS_PER_MINUTE": "0", "CELLKIOSK_UPLOADS_PER_MINUTE": "0", "CELLKIOSK_MAX_ACTIVE_JOBS": "0"}


class Platform:
    """``cellkiosk up`` in a subprocess with its own data directory; a context manager that always stops it."""

    def __init__(self, port: int, consumers: int, settings: dict[str, str] | None = None) -> None:
        self.port, self.consumers = port, consumers
        self.settings = settings or {}  # extra CELLKIOSK_* variables (e.g. rate limits off for a load test)
        self.base_url = f"http://127.0.0.1:{port}"
        self._tmp = tempfile.TemporaryDirectory(prefix="cellkiosk-bench-")
        self._log_path = Path(self._tmp.name) / "platform.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.exit_code: int | None = None

    @property
    def data_dir(self) -> Path:
        """The platform's CELLKIOSK_DATA_DIR (its local object store lives under it)."""
        return Path(self._tmp.name) / "data"

    def __enter__(self) -> Platform:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
        self._tmp.cleanup()

    def start(self) -> None:
        """Launch the platform; inherited CELLKIOSK_* settings are dropped so it is the embedded one."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("CELLKIOSK_")}
        env.update(
            CELLKIOSK_PORT=str(self.port),
            CELLKIOSK_DATA_DIR=str(self.data_dir),
            CELLKIOSK_MODELS_DIR=str(REPO / "models"),
            CELLKIOSK_LOG_LEVEL="WARNING",
        )
        env.update(self.settings)
        python = str(VENV_PYTHON) if VENV_PYTHON.exists() else sys.executable
        cmd = [python, "-m", "cellkiosk.cli", "up", "--consumers", str(self.consumers)]
        with self._log_path.open("wb") as log:
            # A session of its own: a Ctrl-C in the terminal reaches only us, and we stop it once, cleanly.
            self.proc = subprocess.Popen(
                cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def wait_ready(self, client: httpx.Client, timeout_s: float = READY_TIMEOUT_S) -> float:
        """Block until /readyz is 200 with at least K live consumers; seconds it took."""
        assert self.proc is not None
        start = time.monotonic()
        while time.monotonic() - start < timeout_s:
            if self.proc.poll() is not None:
                self.fail(f"the platform exited with code {self.proc.returncode} before it was ready")
            try:
                r = client.get(f"{self.base_url}/readyz", timeout=5.0)
                if r.status_code == 200 and r.json().get("consumers", 0) >= self.consumers:
                    return time.monotonic() - start
            except httpx.TransportError:
                pass  # not listening yet
            time.sleep(0.5)
        self.fail(f"not ready (200 and {self.consumers} consumers on /readyz) within {timeout_s:.0f} s")

    def tail(self, lines: int = 40) -> str:
        """The last lines the platform wrote (stdout and stderr)."""
        try:
            return "\n".join(self._log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no output)"

    def fail(self, reason: str) -> NoReturn:
        """Raise with the platform's output tail."""
        raise SystemExit(f"platform problem: {reason}\n--- platform output (tail) ---\n{self.tail()}")

    def stop(self) -> None:
        """SIGINT (consumers finish their job, Valkey writes its AOF), then kill after the grace time."""
        if self.proc is None or self.proc.poll() is not None:
            self.exit_code = self.proc.returncode if self.proc else None
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.exit_code = self.proc.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            print(f"platform did not stop within {STOP_GRACE_S:.0f} s; killing it", file=sys.stderr)
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.exit_code = self.proc.wait()


def upload(client: httpx.Client, name: str, content: bytes, content_type: str) -> str:
    """POST /api/uploads; the upload key."""
    r = client.post("/api/uploads", files={"file": (name, content, content_type)})
    r.raise_for_status()
    return str(r.json()["key"])


def create_job(client: httpx.Client, key: str) -> str:
    """POST /api/jobs for one segmentation; the job id."""
    r = client.post("/api/jobs", json={"type": "segmentation", "input": key})
    r.raise_for_status()
    return str(r.json()["id"])


def wait_all(client: httpx.Client, job_ids: list[str], timeout_s: float = JOBS_TIMEOUT_S) -> dict[str, Job]:
    """Poll GET /api/jobs/{id} until every job is done, failed or cancelled."""
    finished: dict[str, Job] = {}
    deadline = time.monotonic() + timeout_s
    while len(finished) < len(job_ids):
        if time.monotonic() > deadline:
            raise SystemExit(f"{len(job_ids) - len(finished)} jobs not finished after {timeout_s:.0f} s")
        for job_id in job_ids:
            if job_id not in finished:
                r = client.get(f"/api/jobs/{job_id}")
                r.raise_for_status()
                job = r.json()
                if job["status"] in TERMINAL:
                    finished[job_id] = job
        if len(finished) < len(job_ids):
            time.sleep(POLL_S)
    return finished


def quantile(values: list[float], q: float) -> float | None:
    """The q-quantile (inclusive method), None for no values."""
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def stage_medians(jobs: list[Job]) -> dict[str, float | None]:
    """Median seconds of each stage over the jobs that report it."""
    out: dict[str, float | None] = {}
    for stage in STAGES:
        values = [j["timings"][stage] for j in jobs if stage in (j.get("timings") or {})]
        out[stage] = round(statistics.median(values), 3) if values else None
    return out


def run_medians(jobs: list[Job]) -> dict[str, float | None]:
    """Median queue wait (created -> started), run time (started -> finished) and run time outside any stage."""
    started = [j for j in jobs if j.get("started_at") is not None]
    waits = [j["started_at"] - j["created_at"] for j in started]
    runs = [j["finished_at"] - j["started_at"] for j in started]
    unstaged = [run - sum((j.get("timings") or {}).values()) for run, j in zip(runs, started, strict=True)]
    return {
        name: round(statistics.median(values), 3) if values else None
        for name, values in (("queue_wait", waits), ("run", runs), ("run_outside_stages", unstaged))
    }


def job_rows(jobs: list[Job], samples: list[Sample]) -> list[dict[str, Any]]:
    """One row per job (medians hide a slow image: e.g. one just above the tile size is run as 4 tiles)."""
    mp_by_name = {s.path.name: s.megapixels for s in samples}
    return [
        {
            "image": j.get("input_name"),
            "megapixels": mp_by_name.get(str(j.get("input_name"))),
            "status": j["status"],
            "queue_wait_s": round(j["started_at"] - j["created_at"], 3) if j.get("started_at") else None,
            "latency_s": round(j["finished_at"] - j["created_at"], 3),
            "timings_s": j.get("timings") or {},
        }
        for j in jobs
    ]


def failures(jobs: list[Job]) -> list[dict[str, str]]:
    """Input name and error of every job that did not finish as done."""
    return [
        {"image": str(j.get("input_name")), "status": j["status"], "error": str(j.get("error"))}
        for j in jobs
        if j["status"] != "done"
    ]


def summarise(jobs: list[Job], megapixels: float) -> dict[str, Any]:
    """Wall time (first created -> last finished), rates, latency percentiles, stage medians, failures."""
    wall_s = max(j["finished_at"] for j in jobs) - min(j["created_at"] for j in jobs)
    latencies = [j["finished_at"] - j["created_at"] for j in jobs]
    done = sum(j["status"] == "done" for j in jobs)
    p50, p90 = quantile(latencies, 0.5), quantile(latencies, 0.9)
    return {
        "jobs": len(jobs),
        "wall_s": round(wall_s, 3),
        "jobs_per_min": round(60 * done / wall_s, 2) if wall_s > 0 else None,
        "megapixels_per_s": round(megapixels / wall_s, 4) if wall_s > 0 else None,
        "latency_s": {"median": round(p50 or 0, 3), "p90": round(p90 or 0, 3)},
        "stage_median_s": stage_medians(jobs),
        "per_job_median_s": run_medians(jobs),
        "failed": len(jobs) - done,
        "failures": failures(jobs),
    }


def warm_up(client: httpx.Client, sample: Sample, consumers: int) -> float:
    """One job per consumer, so model loading stays out of the figures (jobs spread over idle consumers)."""
    start = time.monotonic()
    key = upload(client, sample.path.name, sample.path.read_bytes(), "image/png")
    jobs = wait_all(client, [create_job(client, key) for _ in range(consumers)])
    bad = failures(list(jobs.values()))
    if bad:
        raise SystemExit(f"warm-up job failed: {bad}")
    return round(time.monotonic() - start, 3)


def individual_phase(client: httpx.Client, samples: list[Sample]) -> dict[str, Any]:
    """Upload every image, create all jobs back to back, wait; the summary of the N jobs."""
    upload_start = time.monotonic()
    keys = [upload(client, s.path.name, s.path.read_bytes(), "image/png") for s in samples]
    upload_s = time.monotonic() - upload_start
    create_start = time.monotonic()
    job_ids = [create_job(client, key) for key in keys]
    create_s = time.monotonic() - create_start
    finished = wait_all(client, job_ids)
    jobs = [finished[i] for i in job_ids]
    summary = summarise(jobs, sum(s.megapixels for s in samples))
    return {
        "upload_s": round(upload_s, 3),
        "create_s": round(create_s, 3),
        **summary,
        "per_job": job_rows(jobs, samples),
    }


def zip_of(samples: list[Sample]) -> bytes:
    """The images in one in-memory zip (stored: PNGs are compressed already)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as zf:
        for s in samples:
            zf.write(s.path, arcname=s.path.name)
    return buffer.getvalue()


def batch_phase(client: httpx.Client, samples: list[Sample]) -> dict[str, Any]:
    """One zip of the images as one batch job; its wall time, own stage timings and its children's summary."""
    upload_start = time.monotonic()
    key = upload(client, "batch.zip", zip_of(samples), "application/zip")
    upload_s = time.monotonic() - upload_start
    parent_id = create_job(client, key)
    parent = wait_all(client, [parent_id])[parent_id]
    r = client.get(f"/api/jobs/{parent_id}/children")
    r.raise_for_status()
    children: list[Job] = r.json()
    wall_s = parent["finished_at"] - parent["created_at"]
    return {
        "upload_s": round(upload_s, 3),
        "status": parent["status"],
        "error": parent.get("error"),
        "wall_s": round(wall_s, 3),
        "megapixels_per_s": round(sum(s.megapixels for s in samples) / wall_s, 4) if wall_s > 0 else None,
        "parent_timings_s": parent.get("timings") or {},
        "children": parent.get("children"),
        "children_summary": summarise(children, sum(s.megapixels for s in samples)) if children else None,
        "children_per_job": job_rows(children, samples),
    }


def machine() -> dict[str, Any]:
    """Where the figures were measured (load average: other work on the CPUs skews them)."""
    cpuinfo = Path("/proc/cpuinfo")  # Linux; platform.processor() is often empty there
    text = cpuinfo.read_text() if cpuinfo.exists() else ""
    models = [ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("model name")]
    return {
        "processor": platform.processor(),
        "cpu_model": models[0] if models else None,
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "loadavg_1m_at_start": round(os.getloadavg()[0], 2),
    }


def fmt(value: float | None, unit: str = "") -> str:
    """A number for the table, '-' when missing."""
    return "-" if value is None else f"{value:g}{unit}"


def print_table(report: dict[str, Any]) -> None:
    """A small human-readable summary of the report."""
    ind, bat, m = report["individual"], report["batch"], report["machine"]
    slowest = max(ind["per_job"], key=lambda row: row["latency_s"] - (row["queue_wait_s"] or 0))
    per_job = ", ".join(f"{k} {fmt(v)}" for k, v in ind["per_job_median_s"].items())
    stages = ", ".join(f"{k} {fmt(v)}" for k, v in ind["stage_median_s"].items())
    rows = [
        ("machine", f"{m['processor'] or m['cpu_model'] or '?'}, {m['cpus']} CPUs, load {m['loadavg_1m_at_start']}"),
        ("images x consumers", f"{report['images']} x {report['consumers']} ({report['megapixels']:g} MP)"),
        ("individual wall", fmt(ind["wall_s"], " s")),
        ("jobs/min", fmt(ind["jobs_per_min"])),
        ("megapixels/s", fmt(ind["megapixels_per_s"])),
        ("latency median / p90", f"{fmt(ind['latency_s']['median'], ' s')} / {fmt(ind['latency_s']['p90'], ' s')}"),
        ("stage medians (s)", stages),
        ("per-job medians (s)", per_job),
        ("slowest run", f"{str(slowest['image'])[:12]}… ({fmt(slowest['megapixels'])} MP): {slowest['timings_s']}"),
        ("failed", f"{ind['failed']} {ind['failures'] or ''}".strip()),
        ("batch (1 zip) wall", f"{fmt(bat['wall_s'], ' s')} ({bat['status']})"),
        ("batch - individual", fmt(report["batch_overhead_s"], " s")),
    ]
    width = max(len(name) for name, _ in rows)
    print()
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    print()


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Start the platform, run both phases, stop it; the report."""
    samples = pick_images(args.data, args.split, args.modality, args.images)
    report: dict[str, Any] = {"machine": machine(), "images": len(samples), "consumers": args.consumers}
    report.update(split=args.split, modality=args.modality)
    report["megapixels"] = round(sum(s.megapixels for s in samples), 4)
    with Platform(args.port, args.consumers) as plat, httpx.Client(base_url=plat.base_url, timeout=60.0) as client:
        report["startup_s"] = round(plat.wait_ready(client), 3)
        report["warmup_s"] = warm_up(client, samples[0], args.consumers)
        report["individual"] = individual_phase(client, samples)
        report["batch"] = batch_phase(client, samples)
        batch_wall = report["batch"]["wall_s"]
    report["platform_exit_code"] = plat.exit_code
    report["batch_overhead_s"] = round(batch_wall - report["individual"]["wall_s"], 3)
    return report


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print a table and write (or print) the JSON report."""
    args = parse_args(argv)
    try:
        report = run(args)
    except KeyboardInterrupt:
        print("interrupted; the platform was stopped", file=sys.stderr)
        return 130
    print_table(report)
    text = json.dumps(report, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n")
        print(f"report written to {args.out}")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

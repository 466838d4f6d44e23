"""The client subcommands of ``cellkiosk``: submit, status, download, cancel, models."""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cellkiosk.client.api import Client, JobFailed
from cellkiosk.client.http import ApiError, ServerUnreachable

if TYPE_CHECKING:
    from cellkiosk.client.batch import BatchOptions, BatchResult

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def parse_param(text: str) -> tuple[str, Any]:
    """``key=value`` with the value read as JSON when it is JSON (``channels=[1]``, ``flip_tta=true``)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"--param expects key=value, got '{text}'")
    try:
        return key.strip(), json.loads(value)
    except ValueError:
        return key.strip(), value


def client_of(args: argparse.Namespace, **extra: Any) -> Client:
    """A client for the command line's --server and --api-key."""
    return Client(args.server, args.api_key, retries=args.retries, **extra)


def guarded(action: Callable[[], int]) -> int:
    """Run a command, turning refusals and unreachable servers into a message and exit code 2."""
    try:
        return action()
    except ServerUnreachable as exc:
        print(f"error: {exc}", file=sys.stderr)
    except ApiError as exc:
        print(f"error: the server answered {exc.status_code}: {exc.detail}", file=sys.stderr)
    return EXIT_USAGE


def submit(args: argparse.Namespace) -> int:
    """``cellkiosk submit``: analyse files and folders into a results folder."""
    from cellkiosk.client.batch import BatchOptions, BatchRun
    from cellkiosk.client.discover import UsageError, discover
    from cellkiosk.client.progress import make_reporter

    out = Path(args.out)
    try:
        params = dict(parse_param(p) for p in args.param or [])
        files = discover([Path(p) for p in args.paths], args.include, args.exclude, results_dir=out)
    except (UsageError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not files:
        print("error: no input files found (images: .tif .tiff .png .jpg .jpeg; see --include)", file=sys.stderr)
        return EXIT_USAGE
    options = BatchOptions(args.type, args.model, params, args.concurrency)
    with client_of(args, presign_above_bytes=args.presign_above) as client:
        code = guarded(lambda: _check_server(client, options))
        if code:
            return code
        result = BatchRun(client, out, options, make_reporter(args.quiet), threading.Event()).run(files)
    return report(result, out, args.quiet)


def _check_server(client: Client, options: BatchOptions) -> int:
    """Exit code 2 with a message when the server cannot run these jobs at all (before any upload)."""
    kinds = {t["name"]: t for t in client.job_types()}
    kind = kinds.get(options.job_type)
    problem = None
    if kind is None:
        problem = f"this server runs no '{options.job_type}' jobs; it runs: {', '.join(sorted(kinds))}"
    elif not kind["models"] or (options.model and options.model not in kind["models"]):
        have = ", ".join(kind["models"]) or "none"
        problem = f"no model '{options.model or 'default'}' for {options.job_type} here (installed: {have})"
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def report(result: BatchResult, out: Path, quiet: bool) -> int:
    """Print the outcome of a batch run; return its exit code."""
    counts: dict[str, int] = {}
    for row in result.rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    if not quiet:
        text = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        print(f"{len(result.rows)} files: {text}; summary in {out / 'summary.csv'}")
    for row in result.failures:
        print(f"FAILED {row['file']} (job {row['job_id'] or '-'}): {row['error']}", file=sys.stderr)
    if result.unreachable:
        print(f"error: {result.unreachable}; re-run the same command to resume", file=sys.stderr)
        return EXIT_USAGE
    if result.interrupted:
        print("interrupted; re-run the same command to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_FAILED if result.failures else EXIT_OK


def status(args: argparse.Namespace) -> int:
    """``cellkiosk status JOB``: print the job (JSON with --json); exit 1 when it failed."""
    with client_of(args) as client:
        return guarded(lambda: _print_status(client.status(args.job), args.json))


def _print_status(job: dict[str, Any], as_json: bool) -> int:
    if as_json:
        print(json.dumps(job, indent=2))
    else:
        line = f"{job['id']}  {job['type']}  {job['status']}"
        if job.get("stage") and job["status"] == "running":
            line += f" ({job['stage']}, {job.get('progress', 0):.0f}%)"
        if job.get("children"):
            c = job["children"]
            line += f"  children: {c['done']}/{c['total']} done, {c['failed']} failed"
        print(line + (f"\nerror: {job['error']}" if job.get("error") else ""))
    return EXIT_FAILED if job["status"] in ("failed", "cancelled") else EXIT_OK


def download(args: argparse.Namespace) -> int:
    """``cellkiosk download JOB``: unpack the result into --out (default ./JOB); --wait for it first."""
    out = Path(args.out or args.job)

    def run() -> int:
        if args.wait:
            job = client.wait(args.job)
            if job["status"] != "done":
                print(f"error: {JobFailed(job)}", file=sys.stderr)
                return EXIT_FAILED
        client.download(args.job, out)
        print(out)
        return EXIT_OK

    with client_of(args) as client:
        return guarded(run)


def cancel(args: argparse.Namespace) -> int:
    """``cellkiosk cancel JOB``."""
    with client_of(args) as client:
        return guarded(lambda: _print_cancelled(client.cancel(args.job)))


def _print_cancelled(job: dict[str, Any]) -> int:
    _print_status(job, False)
    return EXIT_OK


def models(args: argparse.Namespace) -> int:
    """``cellkiosk models``: a table of the installed models (JSON cards with --json)."""
    with client_of(args) as client:
        return guarded(lambda: _print_models(client.models(), args.json))


def headline_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The numbers worth a table cell: ``val_overall`` when the card has it, else top-level numbers."""
    overall = metrics.get("val_overall")
    source = overall if isinstance(overall, dict) else metrics
    return {k: v for k, v in source.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def _print_models(cards: list[dict[str, Any]], as_json: bool) -> int:
    if as_json:
        print(json.dumps(cards, indent=2))
        return EXIT_OK
    from rich.console import Console
    from rich.table import Table

    table = Table("model", "type", "channels", "µm/px", "tile px", "metrics", "description")
    for card in cards:
        inputs = card.get("inputs") or {}
        channels = ", ".join(str(c.get("name", "?")) for c in inputs.get("channels", []))
        metrics = headline_metrics(card.get("metrics") or {})
        table.add_row(
            f"{card.get('name')} v{card.get('version')}",
            str(card.get("job_type", "")),
            channels,
            str(inputs.get("pixel_size_um") or "any"),
            str(inputs.get("tile_px", "")),
            ", ".join(f"{k} {v:.3g}" for k, v in list(metrics.items())[:4]) or "-",
            str(card.get("description", "")),
        )
    Console(width=int(os.environ.get("COLUMNS", 140))).print(table)
    return EXIT_OK

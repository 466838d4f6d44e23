"""The README's "Reliability and security" table, rendered from the records the tests and benchmarks write.

Records: ``benchmarks/results/reliability/*.json`` (written by the fault, hostile-input, fuzz and load
tests when run with ``CELLKIOSK_RECORD_RESULTS=1``, see tests/records.py) and
``benchmarks/results/load_test.json`` (``make bench``). ``python benchmarks/reliability_table.py`` prints
the table; ``tests/test_readme_figures.py`` fails when the README's copy differs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RECORDS = REPO / "benchmarks" / "results" / "reliability"
LOAD_BENCH = REPO / "benchmarks" / "results" / "load_test.json"


def _consumer_killed(r: dict[str, Any]) -> str:
    return (
        f"finished by {r['finished_by']} after the visibility timeout: attempts {r['attempts']}, "
        f"{r['archives']} archive, counted done {r['done_counted']}×; SIGTERM: exit {r['sigterm_exit']}"
    )


def _sigterm(r: dict[str, Any]) -> str:
    return f"the job in hand {r['job']}, then exit {r['exit_code']} ({r['exit_after_s']:.0f} s after the signal)"


def _kill_tree(r: dict[str, Any]) -> str:
    return (
        f"batch of {r['batch']} ({r['done_before_kill']} done before the kill): after a restart all "
        f"{r['done_after_restart']} done, {r['archives_per_child']} archive each, **{r['lost']} lost**, "
        f"{r['done_twice']} done twice"
    )


def _redis(r: dict[str, Any]) -> str:
    return (
        f"{r['jobs']} jobs queued and running on {r['consumers']} consumer processes: {r['done']} done, "
        f"**{r['lost']} lost**, {r['done_twice']} done twice; gateway while down: "
        f"{'/'.join(map(str, r['gateway_while_down']))} with Retry-After; consumers reconnected by themselves"
    )


def _embedded(r: dict[str, Any]) -> str:
    return (
        f"valkey restarted {r['valkey_restarts']}×, consumer {r['consumer_restarts']}×; "
        f"{r['requests_while_down']} uploads while down answered {'/'.join(map(str, r['answers_while_down']))} "
        f"(never 500); a job queued with no consumer done, **{r['lost']} lost**"
    )


def _storage(r: dict[str, Any]) -> str:
    return (
        f"upload while down: {r['upload_while_down']} with Retry-After; the running job {r['job']} "
        f"when it returned ({r['job_attempts']} attempt: its storage calls were retried), **{r['lost']} lost**"
    )


def _poison(r: dict[str, Any]) -> str:
    return (
        f"retried {r['max_attempts']}×, then failed and dead-lettered with its reason; "
        f"the {r['other_jobs_done']} jobs behind it done, **{r['lost']} lost**"
    )


def _disk(r: dict[str, Any]) -> str:
    return (
        f"job {r['job']}: “{r['reason'].split(' under ')[0]}…”; {r['partial_results']} partial results; "
        f"upload {r['upload_while_full']}; {r['after_space_freed']} once space was freed"
    )


def _hostile(r: dict[str, Any]) -> str:
    o = r["outcomes"]
    return (
        f"{r['cases']} inputs: {o['failed']} failed jobs with a readable reason, {o['refused']} refused (4xx), "
        f"{o['done']} valid inputs in disguise done; {r['consumers_crashed']} consumers crashed, "
        f"a later job {r['later_job']}"
    )


def _fuzz(r: dict[str, Any]) -> str:
    statuses = ", ".join(f"{k}: {v}" for k, v in r["statuses"].items())
    return (
        f"{r['requests']} generated requests over {r['operations']} operations: **{r['server_errors']} 5xx**, "
        f"{r['schema_mismatches']} responses off-schema ({statuses})"
    )


def _load(r: dict[str, Any]) -> str:
    return (
        f"{r['jobs']} jobs + {r['batches']} zips of {r['batch_size']} ({r['images']} images), {r['clients']} clients, "
        f"{r['consumers']} consumers: {r['done']} of {r['jobs'] + r['batches']} done, **{r['lost']} lost**, "
        f"{r['done_twice']} done twice; API p50 {r['api_p50_ms']:.0f} ms, p99 {r['api_p99_ms']:.0f} ms over "
        f"{r['api_calls']} calls; {r['jobs_per_s']} images/s"
    )


ROWS: list[tuple[str, str, str, Callable[[dict[str, Any]], str], str]] = [
    ("fault_consumer_killed", "consumer SIGKILLed mid-job", "`tests/integration/test_lifecycle.py`",
     _consumer_killed, ""),
    ("fault_sigterm", "consumer SIGTERMed mid-job", "`tests/faults/test_crash_and_sigterm.py`", _sigterm, ""),
    ("fault_redis_restart", "Redis (AOF on) SIGKILLed for 3 s", "`tests/faults/test_redis_restart.py`", _redis, ""),
    ("fault_embedded_supervision", "`cellkiosk up`: valkey, then a consumer SIGKILLed",
     "`tests/faults/test_embedded_supervision.py`", _embedded, ""),
    ("fault_kill_tree", "`cellkiosk up`: the whole tree `kill -9`ed mid-batch",
     "`tests/faults/test_crash_and_sigterm.py`", _kill_tree, ""),
    ("fault_storage_down", "object storage (SeaweedFS) down 10 s mid-job", "`tests/faults/test_storage_down.py`",
     _storage, ""),
    ("fault_poison_job", "poison job: its consumer SIGKILLed every time", "`tests/faults/test_poison_job.py`",
     _poison, ""),
    ("fault_disk_full", "local storage disk full (real tmpfs)", "`tests/faults/test_disk_full.py`", _disk, ""),
    ("hostile_inputs", "hostile-input corpus", "`tests/hostile/test_corpus.py`", _hostile, ""),
    ("fuzz_api", "API fuzzed from its OpenAPI schema (schemathesis)", "`tests/security/test_fuzz_api.py`", _fuzz, ""),
    ("load_small", "load, small (`make test`)", "`tests/load/test_load.py`", _load, ""),
]  # fmt: skip


def load_records(folder: Path = RECORDS, bench: Path = LOAD_BENCH) -> dict[str, dict[str, Any]]:
    """Every record by name (the full load test as ``load_full`` when ``make bench`` wrote it)."""
    records = {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}
    if bench.is_file():
        records["load_full"] = json.loads(bench.read_text())
    return records


def reliability_table(records: dict[str, dict[str, Any]] | None = None) -> str:
    """The markdown table: one row per test whose record exists."""
    records = load_records() if records is None else records
    rows = list(ROWS)
    if "load_full" in records:
        rows.append(("load_full", "load, full (`make bench`)", "`benchmarks/load_test.py`", _load, ""))
    lines = ["| what is done to the platform | measured | test | when |", "| --- | --- | --- | --- |"]
    for name, what, test, describe, _ in rows:
        if name in records:
            r = records[name]
            lines.append(f"| {what} | {describe(r)} | {test} | {r.get('date', '')} |")
    if "load_full" in records:
        calls = records["load_full"]["by_call"]
        each = "; ".join(f"{k} p50 {v['p50_ms']:.0f} ms, p99 {v['p99_ms']:.0f} ms" for k, v in calls.items())
        lines += ["", f"Per call under the full load ({records['load_full']['machine']}): {each}."]
    return "\n".join(lines)


if __name__ == "__main__":
    print(reliability_table())

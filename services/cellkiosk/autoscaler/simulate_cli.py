"""``cellkiosk simulate SCENARIO``: makespan, cost, GPU utilisation and the queue curve of a workload.

Writes ``NAME.csv`` (the curve, one row a policy period) and ``NAME.json`` (the scenario, the service
times used and where they came from, the figures) into ``--out``, and ``NAME.png`` (the curve's plot)
into ``--plot-dir``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import subprocess
import time
from pathlib import Path
from typing import Any

from cellkiosk.autoscaler.scenario import Scenario, load_scenario, postprocess_from_benchmark
from cellkiosk.autoscaler.simulation import Result, simulate

DEFAULT_BENCHMARK = Path("benchmarks/results/segmentation_speed.json")


def with_gpus(scenario: Scenario, gpus: int) -> Scenario:
    """The same cluster shape with at most ``gpus`` GPUs: TF Serving's max, and the consumers' in proportion."""
    per_gpu = scenario.consumers.max_replicas / scenario.tfserving.max_replicas
    consumers = max(1, math.ceil(per_gpu * gpus))
    cpu_nodes = math.ceil(consumers / scenario.cluster.cpu.pods_per_node)
    cluster = scenario.cluster.model_copy(
        update={
            "gpu": scenario.cluster.gpu.model_copy(update={"max_nodes": gpus}),
            "cpu": scenario.cluster.cpu.model_copy(update={"max_nodes": cpu_nodes}),
        }
    )
    return scenario.model_copy(
        update={
            "cluster": cluster,
            "tfserving": scenario.tfserving.model_copy(update={"max_replicas": gpus}),
            "consumers": scenario.consumers.model_copy(update={"max_replicas": consumers}),
        }
    )


def figures(result: Result) -> dict[str, Any]:
    """The headline figures of a run, rounded for people."""
    return {
        "makespan_s": round(result.makespan_s, 1),
        "makespan_h": round(result.makespan_s / 3600, 3),
        "simulated_until_s": round(result.end_s, 1),
        "cost_usd": round(result.cost_usd, 2),
        "cost_by_pool_usd": {k: round(v, 2) for k, v in result.cost_by_pool_usd.items()},
        "gpu_node_hours": round(result.gpu_node_hours, 2),
        "cpu_node_hours": round(result.cpu_node_hours, 2),
        "gpu_utilisation": round(result.gpu_utilisation, 3),
        "peak": result.peak,
        "images_processed_once": sum(1 for n in result.processed if n == 1),
    }


def summary_table(record: dict[str, Any]) -> str:
    """A Markdown table of a record's run and its GPU sweep (the README quotes it; a test compares)."""
    runs = {int(record["scenario"]["tfserving"]["max_replicas"]): record["results"]}
    runs.update({int(n): figures for n, figures in record["sweep_max_gpus"].items()})
    lines = [
        "| GPUs at most | consumer pods (peak) | makespan | cost | GPU utilisation | GPU node-hours |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for gpus in sorted(runs):
        r = runs[gpus]
        bold = "**" if gpus == int(record["scenario"]["tfserving"]["max_replicas"]) else ""
        lines.append(
            f"| {bold}{gpus}{bold} | {r['peak']['consumers']} | {bold}{r['makespan_h']:.2f} h{bold} | "
            f"{bold}US${r['cost_usd']:.2f}{bold} | {r['gpu_utilisation']:.0%} | {r['gpu_node_hours']:.1f} |"
        )
    return "\n".join(lines)


def sensitivity_table(record: dict[str, Any]) -> str:
    """A Markdown table of the run at other GPU times per megapixel (the assumption we could not measure)."""
    gpus = int(record["scenario"]["tfserving"]["max_replicas"])
    lines = [
        f"| GPU time per MP (assumed) | makespan, {gpus} GPUs | cost |",
        "| --- | --- | --- |",
    ]
    rows = {float(record["scenario"]["service"]["gpu_s_per_mp"]): record["results"]}
    rows.update({float(k): v for k, v in record.get("sweep_gpu_s_per_mp", {}).items()})
    for gpu_s in sorted(rows):
        r = rows[gpu_s]
        lines.append(f"| {gpu_s:g} s | {r['makespan_h']:.2f} h | US${r['cost_usd']:.2f} |")
    return "\n".join(lines)


def with_gpu_time(scenario: Scenario, gpu_s_per_mp: float) -> Scenario:
    """The scenario with another GPU time per megapixel."""
    service = scenario.service.model_copy(update={"gpu_s_per_mp": gpu_s_per_mp})
    return scenario.model_copy(update={"service": service})


def write_outputs(
    scenario: Scenario, result: Result, record: dict[str, Any], out: Path, plot_dir: Path
) -> dict[str, Path]:
    """The CSV, the PNG and the JSON record of one run."""
    from cellkiosk.autoscaler.plot import plot_run

    for folder in (out, plot_dir):
        folder.mkdir(parents=True, exist_ok=True)
    paths = {kind: (plot_dir if kind == "png" else out) / f"{scenario.name}.{kind}" for kind in ("csv", "png", "json")}
    with paths["csv"].open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(result.series[0]))
        writer.writeheader()
        writer.writerows(result.series)
    plot_run(result, f"{scenario.name}: {scenario.workload.images:,} images", paths["png"])
    paths["json"].write_text(json.dumps(record, indent=2) + "\n")
    return paths


def commit() -> str:
    """The commit the simulation ran at."""
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    return done.stdout.strip() or "unknown"


def main(argv: list[str] | None = None) -> int:
    """Simulate a scenario file, and optionally a sweep over the number of GPUs."""
    parser = argparse.ArgumentParser(prog="cellkiosk simulate", description=__doc__)
    parser.add_argument("scenario", type=Path, help="YAML or JSON scenario (see docs/capacity.md)")
    parser.add_argument("--benchmark", type=Path, default=DEFAULT_BENCHMARK,
                        help="segmentation_speed record: post-processing time (if the scenario has none)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"), help="folder for the CSV and JSON")
    parser.add_argument("--plot-dir", type=Path, default=Path("docs/capacity"), help="folder for the PNG")
    parser.add_argument("--sweep-gpus", type=int, nargs="*", default=[], metavar="N",
                        help="also run with N GPUs (consumers in proportion; figures only, into the JSON)")  # fmt: skip
    parser.add_argument("--sweep-gpu-s-per-mp", type=float, nargs="*", default=[], metavar="S",
                        help="also run with S seconds of GPU per megapixel (figures only, into the JSON)")  # fmt: skip
    args = parser.parse_args(argv)
    scenario = load_scenario(args.scenario)
    post = scenario.service.postprocess_s_per_mp
    source = "scenario"
    if post is None:
        post, source = postprocess_from_benchmark(args.benchmark), str(args.benchmark)
    started = time.perf_counter()
    result = simulate(scenario, post)
    wall_s = time.perf_counter() - started
    sweep = {str(n): figures(simulate(with_gpus(scenario, n), post)) for n in args.sweep_gpus}
    gpu_times = {f"{s:g}": figures(simulate(with_gpu_time(scenario, s), post)) for s in args.sweep_gpu_s_per_mp}
    w = scenario.workload
    record = {
        "simulation": scenario.name,
        "date": time.strftime("%Y-%m-%d"),
        "commit": commit(),
        "scenario_file": str(args.scenario),
        "scenario": scenario.model_dump(mode="json"),
        "service_times_s": {
            "consumer_pre": scenario.service.consumer_pre_s,
            "gpu_per_image": round(scenario.service.gpu_s_per_mp * (w.image_mp + w.size_window_mp), 4),
            "consumer_post_per_image": round(post * w.image_mp + scenario.service.consumer_post_s, 4),
            "postprocess_s_per_mp": post,
            "postprocess_source": source,
        },
        "results": figures(result),
        "sweep_max_gpus": sweep,
        "sweep_gpu_s_per_mp": gpu_times,
        "simulator_wall_s": round(wall_s, 1),
    }
    record["plot"] = str(args.plot_dir / f"{scenario.name}.png")
    paths = write_outputs(scenario, result, record, args.out, args.plot_dir)
    print(json.dumps(record["results"], indent=2))
    print(summary_table(record))
    if gpu_times:
        print(sensitivity_table(record))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0

"""The README's "Performance" tables and the stage-breakdown plot, rendered from the records in benchmarks/results/.

``python -m benchmarks.perf_tables`` prints the tables and writes ``docs/stage-breakdown.png``;
``tests/test_readme_figures.py`` fails when the README's copy differs from what the records say.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks/results"
PLOT = REPO / "docs/stage-breakdown.png"
E2E_RUNS = (  # (label, record before the work of issue 14, record after)
    ("default job (no params: size estimated)", "e2e_before_coelho2009_auto.json", "e2e_coelho2009_auto.json"),
    ("`params.diameter` 110 given", "e2e_before_coelho2009_110.json", "e2e_coelho2009_110.json"),
)
STAGES = ("download", "decode", "preprocess", "size", "predict", "postprocess", "measure", "encode", "upload",
          "outside_stages")  # fmt: skip


def record(name: str) -> dict[str, Any]:
    """One JSON record of benchmarks/results/."""
    return dict(json.loads((RESULTS / name).read_text()))


def _where(r: dict[str, Any]) -> str:
    load = r["machine"].get("loadavg_1m_at_start")
    return f"{r['date'][:10]}, code `{r.get('code_commit', r['commit'])}`, load {load}"


def efficiency_table() -> str:
    """Platform MP/s against the same work in one warm process, before and after, per kind of job."""
    lines = [
        "| 12 coelho2009 images (1.4 MP), 1 consumer | | platform MP/s | in process MP/s | efficiency | record |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for label, before, after in E2E_RUNS:
        for when, name in (("before", before), ("after", after)):
            r = record(name)
            lines.append(
                f"| {label} | {when} | {r['platform']['megapixels_per_s']:.2f} | {r['inprocess_mpx_s']:.2f} | "
                f"**{r['efficiency']:.2f}** | `{name}` ({_where(r)}) |"
            )
    return "\n".join(lines)


def stage_table() -> str:
    """Mean seconds per image of each stage, platform jobs (from their timings) and in process."""
    runs = [
        (label, when, record(name))
        for label, *names in E2E_RUNS
        for when, name in zip(("before", "after"), names, strict=True)
    ]
    head = "| stage, s per image | " + " | ".join(f"{lbl.split(' (')[0]}, {when}" for lbl, when, _ in runs) + " |"
    lines = [head, "| --- |" + " --- |" * len(runs)]
    for stage in (*STAGES, "queue_wait"):
        cells = [r["platform"]["stage_mean_s"].get(stage) for _, _, r in runs]
        lines.append(f"| {stage} | " + " | ".join("—" if c is None else f"{c:.3f}" for c in cells) + " |")
    walls = [r["platform"]["wall_s"] / r["images"] for _, _, r in runs]
    lines.append("| **wall time per image** | " + " | ".join(f"**{w:.3f}**" for w in walls) + " |")
    inproc = [r["inprocess_mpx_s"] and r["megapixels"] / r["images"] / r["inprocess_mpx_s"] for _, _, r in runs]
    lines.append("| in process, per image | " + " | ".join(f"{w:.3f}" for w in inproc) + " |")
    return "\n".join(lines)


def size_table() -> str:
    """Predict speed per model, the watershed, and what ``diameter: auto`` adds (segmentation_speed.json,
    size_job_share.json)."""
    speed, share = record("segmentation_speed.json"), record("size_job_share.json")
    models = ", ".join(f"`{name}` {v}" for name, v in speed["predict_s_per_mp"].items())
    side = "x".join(str(n) for n in speed["image_px"]).replace("x", " × ")
    sets = list(speed["size_auto_overhead"])
    inproc = " / ".join(f"{speed['size_auto_overhead'][s]['auto_over_given']:.2f}×" for s in sets)
    per_image = " and ".join(
        f"{(o['auto_s'] - o['diameter_given_s']) / o['images']:.3f} s" for o in speed["size_auto_overhead"].values()
    )
    platform = " / ".join(f"**{share['sets'][s]['auto_adds']:+.0%}**" for s in sets)
    reused = " and ".join(f"{share['sets'][s]['first_page_reused']} of {share['sets'][s]['jobs']}" for s in sets)
    names = " / ".join(sets)
    rows = [
        "| what | figure | harness |",
        "| --- | --- | --- |",
        f"| predict (in-process TF, 512 px tiles), {side} | {models} s per megapixel | "
        f"`benchmarks/segmentation_speed.py`, median of {speed['repeats']}, models alternating |",
        f"| deep watershed, {side} | {speed['postprocess_s_per_mp']} s/MP (`{speed['postprocess_model']}`) "
        "| same run |",
        f"| what `diameter: auto` adds in process, {names} | {inproc} the time of the same computation with the "
        f"diameter given (size + predict + watershed + measure), {per_image} more an image | same run |",
        f"| what `diameter: auto` adds to a whole job on the embedded platform, {names} | {platform} of the job's "
        f"run against the same jobs with the diameter each found given (the first page's prediction reused in "
        f"{reused} jobs) | `benchmarks/size_job_share.py` |",
    ]
    where = (
        f"`segmentation_speed.json`: {speed['date'][:10]}, `{speed['commit']}`; `size_job_share.json`: "
        f"{share['date'][:10]}, `{share['commit']}`; {share['consumers']} consumer."
    )
    return "\n".join(rows) + "\n\n" + where


def error_kinds_table() -> str:
    """A default job's false positives and negatives by kind (error_kinds.json)."""
    r = record("error_kinds.json")
    sets = r["sets"]
    rows = [
        ("false positives", "fp"),
        ("· no true nucleus under it", "fp_no_truth"),
        ("· a piece of one nucleus", "fp_piece"),
        ("· over several nuclei", "fp_spans_nuclei"),
        ("false negatives", "fn"),
        ("· missed, touching the image's edge", "fn_missed_at_edge"),
        ("· missed, elsewhere", None),
        ("· inside a larger prediction (merged)", "fn_merged"),
        ("· in pieces", "fn_in_pieces"),
    ]
    lines = [f"| `{r['model']}`, a job with no params | " + " | ".join(sets) + " |", "| --- |" + " --- |" * len(sets)]
    for label, key in rows:
        cells = [
            str(v["all"][key] if key else v["all"]["fn_missed"] - v["all"]["fn_missed_at_edge"]) for v in sets.values()
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("| pooled AP@0.5 | " + " | ".join(f"{v['ap50_pooled']:.3f}" for v in sets.values()) + " |")
    lines.append(
        "| the same not counting the no-truth positives and the missed edge nuclei (a diagnosis) | "
        + " | ".join(f"{v['ap50_pooled_not_counting_fp_no_truth_nor_fn_missed_at_edge']:.3f}" for v in sets.values())
        + " |"
    )
    return "\n".join(lines) + f"\n\n`error_kinds.json`: {_head(r)}."


def watershed_table() -> str:
    """Deep watershed before / after and the predecessor's h-maxima watershed on the same predictions."""
    r = record("watershed_speed.json")
    lines = [
        f"| prediction of `{r['model']}` | deep watershed before (`{r['before_commit']}`) | after | "
        "h_maxima + watershed (predecessor) | cells (ours / predecessor) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for size, row in r["sizes"].items():
        theirs = f"{row['h_maxima_watershed_s']:.2f} s" if "h_maxima_watershed_s" in row else "not run (minutes)"
        cells = f"{row['deep_watershed_cells']} / {row.get('h_maxima_watershed_cells', '—')}"
        same = "" if row.get("before_same_labels", True) else " (labels differ!)"
        lines.append(
            f"| {size} | {row.get('before_s', 0):.3f} s | **{row['deep_watershed_s']:.3f} s**{same} | {theirs} | "
            f"{cells} |"
        )
    lines.append(f"\n`watershed_speed.json`: {_where_ws(r)}, median of {r['repeats']} (8192: one run).")
    return "\n".join(lines)


def _where_ws(r: dict[str, Any]) -> str:
    return f"{r['date'][:10]}, `{r['commit']}`, load {r['loadavg_1m'][0]}–{r['loadavg_1m'][1]}"


def viewer_table() -> str:
    """Frame latency of the viewer on a 100-frame tracking result, before and after."""
    lines = ["| viewer, 100-frame 512 x 512 tracking result | labels.png | image.png | frame (both) | "
             "`/files/cells.csv` | record |", "| --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for when, name in (("before", "viewer_latency_before.json"), ("after", "viewer_latency.json")):
        r = record(name)
        lines.append(
            f"| {when} (code `{r['code_commit']}`) | {r['labels_png']['median_ms']:.0f} ms | "
            f"{r['image_png']['median_ms']:.0f} ms | **{r['frame']['median_ms']:.0f} ms** "
            f"(p90 {r['frame']['p90_ms']:.0f}) | {r['files_cells_csv_median_ms']:.0f} ms | `{name}` "
            f"({r['date'][:10]}, load {r['machine']['loadavg_1m_at_play']}) |"
        )
    return "\n".join(lines)


def backends_table() -> str:
    """Raw network seconds per megapixel per backend and batch size, and the largest difference from TF."""
    r = record("backends.json")
    rows = r["backends"]
    batches = next(iter(v["s_per_mp_by_batch"] for v in rows.values() if "s_per_mp_by_batch" in v))
    lines = ["| backend (float32, 512 px tiles) | " + " | ".join(f"batch {b}" for b in batches)
             + " | max abs diff vs TF |", "| --- |" + " --- |" * (len(batches) + 1)]  # fmt: skip
    for name, row in rows.items():
        if "error" in row:
            lines.append(f"| {name} | failed: {row['error']} |")
            continue
        cells = " | ".join(f"{row['s_per_mp_by_batch'][b]:.2f} s/MP" for b in batches)
        lines.append(f"| {name} | {cells} | {row['max_abs_diff_vs_tf']:.1e} |")
    lines.append(f"\n`backends.json`: {r['date'][:10]}, `{r['commit']}`, load {r['loadavg_1m_at_start']}, "
                 f"`{r['model']}`, each backend in its own process.")  # fmt: skip
    return "\n".join(lines)


def precision_table() -> str:
    """float32 against in-process bfloat16: raw speed, heads difference, AP@0.5 of a no-params job on both sets."""
    r = record("precision.json")
    runs = r["runs"]
    sets = [name for name in runs["float32"] if isinstance(runs["float32"][name], dict)]
    lines = ["| `CELLKIOSK_PRECISION` | raw network, 4 x 512² | "
             + " | ".join(f"{name}: pooled / image mean AP@0.5" for name in sets) + " |",
             "| --- | --- |" + " --- |" * len(sets)]  # fmt: skip
    for precision, row in runs.items():
        cells = " | ".join(f"{row[n]['ap50_pooled']:.4f} / {row[n]['ap50_image_mean']:.4f}" for n in sets)
        lines.append(f"| {precision} | {row['predict_s_per_mp']:.2f} s/MP | {cells} |")
    loss = "; ".join(
        f"{n}: {r['ap50_loss'][n]['ap50_pooled']:+.4f} pooled, {r['ap50_loss'][n]['ap50_image_mean']:+.4f} image mean"
        for n in sets
    )
    verdict = "within" if r["within_bar"] else "**outside**"
    lines.append(
        f"\nbfloat16 is **{r['speedup']}×** as fast; the heads differ by at most {r['max_abs_difference']}; AP lost "
        f"({loss}) is {verdict} the issue's {r['bar']} bar. `precision.json`: {r['date'][:10]}, `{r['commit']}`, "
        f"load {r['loadavg_1m_at_start']}, `{r['model']}`, native bfloat16 on this CPU: {r['cpu_has_bf16']}."
    )
    return "\n".join(lines)


def tiling_line() -> str:
    """Tiled predict against the raw network on the same pixels (``benchmarks.tiling``)."""
    r = record("tiling.json")
    side = r["image_px"][0]
    return (
        f"**Tiling**: on {side} × {side} the job's tiled predict ({r['tile_px']} px tiles, {r['tile_overlap_px']} px "
        f"overlap, {r['tiles_per_call']} a call) takes **{r['tiled_s_per_mp']} s/MP** against "
        f"{r['raw_s_per_mp']} s/MP for the raw network on the whole image in one call: **{r['tiled_over_raw']}×** "
        f"(largest difference between the two outputs {r['max_abs_diff']}; "
        f"`python -m benchmarks.tiling`, `tiling.json`: {r['date'][:10]}, `{r['commit']}`, "
        f"load {r['loadavg_1m_at_start']}, `{r['model']}`, median of {r['repeats']}, alternating)"
    ) + tiles_per_call_text(r)


def tiles_per_call_text(r: dict[str, Any]) -> str:
    """The same rounds' tiled predict at each number of tiles a call (``CELLKIOSK_PREDICT_BATCH_SIZE``)."""
    by_call = r["by_tiles_per_call"]
    default = str(r["tiles_per_call"])  # the job's, whose heads the others are compared with

    def one(n: str, v: dict[str, float]) -> str:
        diff = f" (heads within {v['max_abs_diff_from_default']:.1e} of {default}'s)" if n != default else ""
        return f"{n} a call {v['s_per_mp']} s/MP{diff}"

    each = "; ".join(one(n, v) for n, v in by_call.items())
    return f". Tiles a call (`CELLKIOSK_PREDICT_BATCH_SIZE`, default {default}), same rounds: {each}"


def test_fast_line() -> str:
    """The ``make test-fast`` figure."""
    r = record("test_fast.json")
    counts = r["counts"]
    where = f"`test_fast.json`: {r['date'][:10]}, `{r['commit']}`, load {r['loadavg_1m_at_start']}"
    return (
        f"`make test-fast` runs {counts['passed']} tests in **{r['wall_s']:.0f} s** (`python -m "
        f"benchmarks.suite_time`, {where}); the {counts.get('deselected', 0)} tests marked `slow` are left out"
    )


def tracking_line() -> str:
    """A default tracking job end to end, and its parts at the scale it chose (benchmarks/tracking_end_to_end.py)."""
    r = record("tracking_end_to_end.json")
    job, parts = r["default_job"], r["parts"]
    seq = "/".join(Path(parts["sequence"]).parts[-2:])
    return (
        f"**Tracking end to end**: a tracking job with no params on {seq} ({job['frames']} frames, "
        f"{parts['frame_px'][0]} × {parts['frame_px'][1]}; `{job['model']}`, segmented by `{job['segmented_by']}` "
        f"at the estimated scale {job['scale']}) runs at **{job['frames_per_s']} frames/s** in process "
        f"once the models are loaded (size and segmentation {job['segment_s']} s, linking with settling "
        f"{job['track_s']} s; the first job of a process, loading them, took {job['cold_s']} s; TRA "
        f"{job['tra']:.3f}, division F1 {job['division_f1']:.2f}). Its parts alone at that scale: "
        f"{parts['frames_per_s_end_to_end']} frames/s (batched prediction, watershed, linking without settling; "
        f"batched prediction {parts['batching_speedup']}× as fast as frame by frame) "
        f"(`benchmarks/tracking_end_to_end.py`, `tracking_end_to_end.json`: {r['date'][:10]}, `{r['commit']}`, "
        f"{r['machine']})"
    )


def _head(r: dict[str, Any]) -> str:
    """Date, commit and load (start and end) of a record written with ``benchmarks.records.record_head``."""
    return (f"{r['date'][:10]}, `{r['commit']}`, load {r['loadavg_1m_at_start']} at start, "
            f"{r['machine']['loadavg_1m_at_end']} at end")  # fmt: skip


def gateway_table() -> str:
    """Upload throughput against dd, API latency under concurrent clients, round trip of the cheapest job."""
    r = record("gateway.json")
    up, lat, trip = r["upload"], r["latency"], r["round_trip"]
    dd_before, dd_after = up["dd_mb_s_before_after"]
    lines = [
        "| gateway, `cellkiosk up` on loopback | figure |",
        "| --- | --- |",
        f"| upload of {up['size_mb']} MB through `POST /api/uploads` | **{up['api_mb_s']:.0f} MB/s** "
        f"({up['api_s']:.1f} s) |",
        f"| `dd bs=1M` of the same file to the same disk (before / after the upload) | {dd_before:.0f} / "
        f"{dd_after:.0f} MB/s |",
        f"| `dd bs=1M conv=fsync` | {up['dd_fsync_mb_s']:.0f} MB/s |",
        f"| upload / `dd` buffered, mean of before and after (the store does not fsync either) | "
        f"{up['api_over_dd']:.2f} |",
        f"| upload / `dd conv=fsync` | {up['api_mb_s'] / up['dd_fsync_mb_s']:.2f} |",
    ]
    for what, key in (("job creation (`POST /api/jobs`)", "create"), ("job status (`GET /api/jobs/{id}`)", "status")):
        x = lat[key]
        lines.append(
            f"| {what}, {lat['clients']} concurrent clients, {x['n']} requests | p50 **{x['p50_ms']:.0f} ms**, "
            f"p99 **{x['p99_ms']:.0f} ms** ({x['per_s']:.0f} requests/s) |"
        )
    claimed, done = trip["created_to_claimed"], trip["created_to_done"]
    lines.append(
        f"| queue round trip, {trip['jobs']} jobs one at a time: created → claimed by the consumer | "
        f"p50 **{claimed['p50_ms']:.1f} ms**, p99 {claimed['p99_ms']:.1f} ms |"
    )
    lines.append(
        f"| created → done, the cheapest real job ({trip['job'].split(' (')[0]}) | p50 **{done['p50_ms']:.0f} ms**, "
        f"p99 {done['p99_ms']:.0f} ms |"
    )
    lines.append(f"\n`gateway.json`: {_head(r)}.")
    return "\n".join(lines)


def scale_table() -> str:
    """Megapixels/s with 1, 2 and 4 consumers (median of alternated rounds), and the tracking job's frames/s."""
    r = record("scale.json")
    lines = [
        f"| {r['images']} {r['data']} images ({r['megapixels']:g} MP) | MP/s, median | each round | "
        "vs 1 consumer | jobs running at once | cores busy: machine / this platform | run time per job, median | "
        "load before each round |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in r["runs"]:
        k, rounds = row["consumers"], row["rounds"]
        each = " / ".join(f"{x:.2f}" for x in row["megapixels_per_s_rounds"])
        run_s = statistics.median(x["per_job_median_s"]["run"] for x in rounds)
        loads = " / ".join(str(x["loadavg_1m_before"]) for x in rounds)
        lines.append(
            f"| {k} consumer{'s' if k > 1 else ''} | **{row['megapixels_per_s_median']:.2f}** | {each} | "
            f"{row['speedup_vs_first']:.2f}x | {row['mean_jobs_running_median']:.2f} | "
            f"{row['machine_cores_busy_median']:.2f} / {row['platform_cores_median']:.2f} | {run_s:.2f} s | {loads} |"
        )
    t = r.get("tracking")
    if t:
        lines.append(
            f"\nTracking through the platform: the first {t['frames']} frames of {t['sequence']} (690 x 628) in "
            f"one TIFF, one tracking job with no params, 1 consumer: **{t['frames_per_s']:.2f} frames/s** "
            f"({t['run_s']:.1f} s started → done; {t['frames_per_s_with_queue']:.2f} frames/s from creation). "
            "Its stages: " + ", ".join(f"{k} {v:.2f} s" for k, v in t["timings_s"].items() if v >= 0.05) + "."
        )
    lines.append(f"\n`scale.json`: {_head(r)}.")
    return "\n".join(lines)


def plot(out: Path = PLOT) -> None:
    """Stacked bars: mean seconds per image of each stage, per run, with the wall time per image marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [(f"{label.split(' (')[0].replace('`', '')}\n{when}", record(name)) for label, *names in E2E_RUNS
            for when, name in zip(("before", "after"), names, strict=True)]  # fmt: skip
    fig, ax = plt.subplots(figsize=(10, 4.5))
    colours = plt.get_cmap("tab10")
    for i, (_, r) in enumerate(runs):
        bottom = 0.0
        for k, stage in enumerate(STAGES):
            value = r["platform"]["stage_mean_s"].get(stage, 0.0)
            ax.bar(i, value, bottom=bottom, color=colours(k), label=stage if i == 0 else None, width=0.6)
            bottom += value
        ax.plot([i - 0.35, i + 0.35], [r["platform"]["wall_s"] / r["images"]] * 2, color="black", lw=2,
                label="platform wall time per image" if i == 0 else None)  # fmt: skip
        per_image = r["megapixels"] / r["images"] / r["inprocess_mpx_s"]
        ax.plot([i - 0.35, i + 0.35], [per_image] * 2, color="black", lw=2, ls=":",
                label="in process, per image" if i == 0 else None)  # fmt: skip
    ax.set_xticks(range(len(runs)), [name for name, _ in runs])
    ax.set_ylabel("seconds per image (mean of the job timings)")
    ax.set_title("cellkiosk up, 1 consumer, 12 coelho2009 images: where a job's time goes")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main() -> None:
    """Print the tables, write the plot."""
    tables = (size_table(), error_kinds_table(), efficiency_table(), stage_table(), watershed_table(),
              viewer_table(), backends_table(), precision_table(), tiling_line(), test_fast_line(), gateway_table(),
              scale_table(), tracking_line())  # fmt: skip
    print(*tables, sep="\n\n")
    plot()
    print(f"\nwrote {PLOT.relative_to(REPO)}")


if __name__ == "__main__":
    main()

"""The simulator's picture: the queue over time, and the replicas and nodes that worked it off."""

from __future__ import annotations

from pathlib import Path

from cellkiosk.autoscaler.simulation import Result


def plot_run(result: Result, title: str, path: Path) -> None:
    """Write a PNG: backlog (top), consumer and TF Serving pods and GPU nodes (bottom), time in minutes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [row["t_s"] / 60 for row in result.series]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True, constrained_layout=True)
    top.plot(t, [row["waiting"] for row in result.series], label="waiting (stream lag)")
    top.plot(t, [row["in_hand"] for row in result.series], label="in hand (pending)")
    top.set_ylabel("images")
    top.set_yscale("symlog", linthresh=100)
    top.legend(loc="upper right")
    top.set_title(title)
    bottom.plot(t, [row["consumers_ready"] for row in result.series], label="consumer pods Ready")
    bottom.plot(t, [row["tfserving_ready"] for row in result.series], label="TF Serving pods Ready")
    bottom.plot(t, [row["gpu_nodes"] for row in result.series], "--", label="GPU nodes billed")
    bottom.plot(t, [row["gpu_busy"] for row in result.series], ":", label="GPUs busy")
    bottom.axvline(result.makespan_s / 60, color="grey", lw=0.8)
    bottom.annotate(f"last image {result.makespan_s / 60:.0f} min", (result.makespan_s / 60, 0), xytext=(4, 4),
                    textcoords="offset points", fontsize=8)  # fmt: skip
    bottom.set_ylabel("pods / nodes")
    bottom.set_xlabel("minutes")
    bottom.legend(loc="upper right")
    fig.savefig(path, dpi=110)
    plt.close(fig)

"""The README's accuracy tables, rendered from the model cards' measured metrics (never typed by hand).

``python benchmarks/card_tables.py`` prints them; ``tests/test_readme_figures.py`` fails when the
README's copy differs from what the cards say.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cellkiosk.inference.model_card import ModelCard
from cellkiosk.inference.store import ModelStore

REPO = Path(__file__).resolve().parents[1]
UNSEEN = "coelho2009"


def _versions(name: str, models: Path) -> list[ModelCard]:
    dirs = sorted((models / name).glob("*/model.yaml"), key=lambda p: int(p.parent.name))
    return [ModelCard.read(p.parent) for p in dirs]


def _get(metrics: dict[str, Any], *path: str) -> dict[str, Any] | None:
    node: Any = metrics
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node if isinstance(node, dict) else None


def _cell(values: dict[str, Any] | None) -> str:
    if values is None:
        return "—"
    return f"{values['ap50_pooled']:.3f} / {values['ap50_image_mean']:.3f}"


SEGMENTATION_ROWS = (
    ("DSB2018 val fluorescence (post-processing tuned here)", "default params", ("val", "fluorescence")),
    ("", "native size (no resizing)", ("val_fluorescence_native_size",)),
    ("", "untuned post-processing defaults", ("val_fluorescence_untuned_defaults",)),
    (
        f"**{UNSEEN}**, never trained or tuned on: all 97 images",
        "**default params**",
        (UNSEEN, "default_params", "all"),
    ),
    ("", "untuned post-processing defaults", (UNSEEN, "untuned_defaults", "all")),
    ("", "native size (no resizing)", (UNSEEN, "native_size", "all")),
    (f"{UNSEEN} U2OS (48 images, nuclei ~110 px)", "default params", (UNSEEN, "default_params", "U2OS")),
    (f"{UNSEEN} NIH3T3 (49 images, nuclei ~87 px)", "default params", (UNSEEN, "default_params", "NIH3T3")),
)


def segmentation_table(models: Path = REPO / "models") -> str:
    """AP@0.5 pooled / image mean of every nuclear model version, on val and on the unseen set."""
    cards = [c for c in _versions("nuclear", models) if _get(c.metrics, UNSEEN)]
    head = "| data | job | " + " | ".join(f"`{c.name}:{c.version}`" for c in cards) + " |"
    lines = [head, "| --- | --- | " + " | ".join("---" for _ in cards) + " |"]
    for data, how, path in SEGMENTATION_ROWS:
        lines.append(f"| {data} | {how} | " + " | ".join(_cell(_get(c.metrics, *path)) for c in cards) + " |")
    for key, label in (("val_fluorescence", "DSB2018 val fluorescence"), (UNSEEN, UNSEEN)):
        row = [_get(c.metrics, "size_estimate", key) for c in cards]
        cells = [f"{r['median_abs_error']:.1%} median error, {r['within_25pct']:.0%} within 25 %" if r else "—"
                 for r in row]  # fmt: skip
        lines.append(f"| {label} | size estimate vs true median diameter | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def tracking_table(models: Path = REPO / "models") -> str:
    """TRA / DET / division F1 of the default tracking model, from its card's export."""
    card = ModelStore(models).default_for("tracking")
    if card is None or not _get(card.metrics, "end_to_end"):
        return ""
    lines = [
        f"| `{card.name}:{card.version}`, a job with no params | TRA | DET | division F1 | diameter estimated |",
        "| --- | --- | --- | --- | --- |",
    ]
    for section, label in (
        ("end_to_end", "whole movie"),
        ("unseen_frames", "only the frames the model never saw"),
        ("across_datasets", "tracker size fitted on the other movie"),
        ("linking_gt_markers", "linking the ground-truth markers (tracker alone)"),
    ):
        for name, r in (_get(card.metrics, section) or {}).items():
            f1 = f"{r['division_f1']:.2f}" if r.get("division_f1") is not None else "—"
            size = f"{r['diameter_px']:g} px" if r.get("diameter_px") else "—"
            lines.append(f"| {label}: {name} | {r.get('tra', 0):.3f} | {r.get('det', 0):.3f} | {f1} | {size} |")
    return "\n".join(lines)


def division_table(models: Path = REPO / "models") -> str:
    """The default tracking model's whole-movie divisions by kind (``division_outcomes`` of its card)."""
    card = ModelStore(models).default_for("tracking")
    whole = (_get(card.metrics, "end_to_end") or {}) if card is not None else {}
    runs = {name: r["division_outcomes"] for name, r in whole.items() if r.get("division_outcomes")}
    if not runs:
        return ""
    lines = ["| divisions, a job with no params | " + " | ".join(runs) + " |", "| --- |" + " --- |" * len(runs)]
    for side, label in (("true_divisions", "true"), ("divisions_found", "found by the job")):
        for kind in next(iter(runs.values()))[side]:
            lines.append(f"| {label}: {kind} | " + " | ".join(str(r[side][kind]) for r in runs.values()) + " |")
    return "\n".join(lines)


def main() -> None:
    """Print the tables."""
    print(segmentation_table())
    print()
    print(tracking_table())
    print()
    print(division_table())


if __name__ == "__main__":
    main()

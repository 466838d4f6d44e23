"""Tracking scores of a Cell Tracking Challenge result: TRA, DET and division precision/recall/F1.

TRA and DET are the challenge's AOGM-based measures (Matula et al., PLoS One 2015), computed by
``py-ctcmetrics`` (the challenge organisers' Python implementation), not re-implemented here.
Divisions are scored as the challenge's branching correctness BC(i) (Ulman et al., Nat Methods
2017): a detected division is a true positive when its mother and both daughters match a
reference division's (via the same marker matching TRA uses) with start/end frames off by at most
``i`` frames; precision, recall and F1 follow from the counts.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import tifffile

from cellkiosk.imaging.movie import Movie
from cellkiosk.tracking.ctc_io import find_masks, read_track_file, validate_ctc
from cellkiosk.tracking.movie import track_movie, write_ctc_result
from cellkiosk.tracking.params import TrackingParams


@dataclass(frozen=True)
class TrackingScores:
    """Scores of one sequence; ratios are None where undefined (no reference divisions)."""

    valid: bool
    tra: float | None
    det: float | None
    aogm: float | None
    aogm_0: float | None
    aogm_errors: dict[str, int] = field(default_factory=dict)  # NS, FN, FP, ED, EA, EC counts
    divisions_gt: int = 0
    division_tp: int = 0
    division_fp: int = 0
    division_fn: int = 0
    division_precision: float | None = None
    division_recall: float | None = None
    division_f1: float | None = None
    division_tolerance_frames: int = 0
    problems: list[str] = field(default_factory=list)  # CTC format violations when not valid

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict of every field."""
        return asdict(self)


def _gt_root(gt_dir: Path) -> Path:
    """The ``NN_GT`` folder (holding ``TRA/``), given it or its ``TRA`` folder."""
    return gt_dir.parent if gt_dir.name == "TRA" else gt_dir


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def score_tracking(
    res_dir: str | Path, gt_dir: str | Path, division_tolerance_frames: int = 0, threads: int = 1
) -> TrackingScores:
    """Score a CTC result folder against CTC ground truth.

    Parameters
    ----------
    res_dir : path
        Folder with ``res_track.txt`` and ``maskTTT.tif`` (as many frames as the ground truth).
    gt_dir : path
        The ``NN_GT`` folder (with ``TRA/man_track.txt`` and ``TRA/man_trackTTT.tif``) or its ``TRA``.
    division_tolerance_frames : int
        ``i`` of BC(i): how many frames a division may be off and still count (0: exact).
    threads : int
        Processes py-ctcmetrics may use to match masks (0: all CPUs).

    Returns
    -------
    TrackingScores
        ``valid`` is False (and the scores None) when the result breaks the CTC format rules.

    Raises
    ------
    ValueError
        When the folders hold no frames or different numbers of frames.
    """
    from ctc_metrics.scripts.evaluate import calculate_metrics, load_data

    gt_root = _gt_root(Path(gt_dir))
    n_res, n_gt = len(find_masks(res_dir)), len(find_masks(gt_root / "TRA"))
    if n_res != n_gt or n_gt == 0:
        raise ValueError(f"{res_dir} has {n_res} mask frames, {gt_root / 'TRA'} has {n_gt}: they must match")
    i = int(division_tolerance_frames)
    metrics = ["Valid", "DET", "TRA", "BC", f"BC({i})"] if i > 3 else ["Valid", "DET", "TRA", "BC"]
    # py-ctcmetrics prints progress and warns per problem; our own validator reports problems instead.
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        comp, ref, traj, segm, _, is_valid = load_data(str(res_dir), str(gt_root), True, False, threads)
        result = calculate_metrics(comp, ref, traj, segm, metrics, is_valid)
    if not result.get("Valid"):
        problems = validate_ctc(res_dir) or ["py-ctcmetrics found the result invalid"]
        return TrackingScores(False, None, None, None, None, division_tolerance_frames=i, problems=problems)
    tp, fp, fn = (int(result[f"{k}_div({i})"]) for k in ("tp", "fp", "fn"))
    return TrackingScores(
        valid=True,
        tra=float(result["TRA"]),
        det=float(result["DET"]),
        aogm=float(result["AOGM"]),
        aogm_0=float(result["AOGM_0"]),
        aogm_errors={k: int(result[f"AOGM_{k}"]) for k in ("NS", "FN", "FP", "ED", "EA", "EC")},
        divisions_gt=tp + fn,
        division_tp=tp,
        division_fp=fp,
        division_fn=fn,
        division_precision=_ratio(tp, tp + fp),
        division_recall=_ratio(tp, tp + fn),
        division_f1=_ratio(2 * tp, 2 * tp + fp + fn) if tp + fn else None,
        division_tolerance_frames=i,
    )


def cut_ground_truth(gt_dir: str | Path, frames: range, out_dir: str | Path) -> Path:
    """The CTC tracking ground truth of a stretch of frames, renumbered from 0, as a new ``NN_GT`` folder.

    ``out_dir/TRA`` gets ``man_track.txt`` with the tracks present in ``frames`` (first and last frame
    clipped to the stretch; a parent that ends before the stretch becomes 0) and the markers of those
    frames as symlinks ``man_trackTTT.tif`` (numbered from 0). Scoring a result for the same frames
    against it gives the challenge's measures for that part of the movie.
    """
    if frames.step != 1 or not len(frames):
        raise ValueError(f"frames must be a non-empty contiguous range, got {frames}")
    source = _gt_root(Path(gt_dir)) / "TRA"
    target = Path(out_dir) / "TRA"
    target.mkdir(parents=True, exist_ok=True)
    masks = {int(p.stem.removeprefix("man_track")): p for p in find_masks(source)}
    first, last = frames.start, frames.stop - 1
    for t in frames:
        (target / f"man_track{t - first:03d}.tif").symlink_to(masks[t].resolve())
    rows = read_track_file(source / "man_track.txt")
    rows = rows[(rows[:, 1] <= last) & (rows[:, 2] >= first)]
    kept = set(rows[:, 0].tolist())
    lines = [
        f"{label} {max(b, first) - first} {min(e, last) - first} {parent if parent in kept else 0}\n"
        for label, b, e, parent in rows.tolist()
    ]
    (target / "man_track.txt").write_text("".join(lines))
    return Path(out_dir)


def ctc_movie(seq_dir: str | Path, frames: range | None = None) -> tuple[Movie, range]:
    """The raw frames ``tTTT.tif`` of a CTC sequence (or the stretch ``frames`` of them) as a lazy movie.

    Returns the (T, Y, X, 1) movie, read one file per frame as a tracking job reads its movie, and the
    frames it holds (``frames`` clipped to the sequence). ValueError when no frame is left.
    """
    seq_dir = Path(seq_dir)
    raws = sorted(seq_dir.glob("t*.tif"))
    frames = frames or range(len(raws))
    raws = raws[frames.start : frames.stop]
    if not raws:
        raise ValueError(f"{seq_dir}: no frames in {frames.start}:{frames.stop}")
    with tifffile.TiffFile(raws[0]) as tif:  # the frame size and type, from the header
        height, width = tif.pages[0].shape[:2]
        dtype = np.dtype(tif.pages[0].dtype)

    def read(t: int) -> np.ndarray:
        return np.asarray(tifffile.imread(raws[t]))[..., np.newaxis]

    return Movie((len(raws), height, width, 1), dtype, "TYX", read), range(frames.start, frames.start + len(raws))


def score_ctc_result(
    res_dir: str | Path, seq_dir: str | Path, frames: range | None = None, division_tolerance_frames: int = 0,
    threads: int = 1,
) -> tuple[list[str], TrackingScores | None]:  # fmt: skip
    """Validate a CTC result of a sequence (or of the stretch ``frames`` of it) and score it when valid.

    The ground truth is ``<seq_dir>_GT`` beside the sequence, cut to ``frames`` (renumbered from 0) when
    they are not the whole movie. Returns the format problems (empty when valid) and the scores.
    """
    seq_dir = Path(seq_dir)
    problems = validate_ctc(res_dir)
    if problems:
        return problems, None
    gt_root = seq_dir.parent / f"{seq_dir.name}_GT"
    with tempfile.TemporaryDirectory() as tmp:
        if frames is not None and frames != range(len(find_masks(gt_root / "TRA"))):
            gt_root = cut_ground_truth(gt_root, frames, Path(tmp) / "GT")
        return problems, score_tracking(res_dir, gt_root, division_tolerance_frames, threads)


def link_ground_truth(
    seq_dir: str | Path,
    out_dir: str | Path,
    params: TrackingParams | None = None,
    threads: int = 1,
    division_tolerance_frames: int = 0,
) -> dict[str, object]:
    """Track the ground-truth markers of a CTC sequence, write a CTC result, validate and score it.

    Isolates the tracker from segmentation: the "segmentation" is ``NN_GT/TRA/man_trackTTT.tif``
    (complete for every frame); intensities come from the raw frames ``NN/tTTT.tif`` when present.

    Parameters
    ----------
    seq_dir : path
        The sequence folder, e.g. ``.../Fluo-N2DH-SIM+/01`` (ground truth in ``01_GT`` beside it).
    out_dir : path
        Where the CTC result is written.
    params : TrackingParams, optional
        Tracker parameters.
    threads : int
        Processes for mask matching in scoring.
    division_tolerance_frames : int
        ``i`` of BC(i) for the division scores.

    Returns
    -------
    dict
        ``scores``, ``problems`` (format violations, empty when valid), object and track counts,
        ``track_s`` (reading, measuring and linking) and the parameters used.
    """
    seq_dir = Path(seq_dir)
    gt_root = seq_dir.parent / f"{seq_dir.name}_GT"
    markers = list(find_masks(gt_root / "TRA"))
    raws = [seq_dir / f"t{p.stem.removeprefix('man_track')}.tif" for p in markers]
    images = (tifffile.imread(p) for p in raws) if all(p.is_file() for p in raws) else None
    params = params or TrackingParams()
    start = time.perf_counter()
    lineage = track_movie((tifffile.imread(p) for p in markers), images, params)
    track_s = time.perf_counter() - start
    write_ctc_result(out_dir, lineage, markers, tifffile.imread)
    problems, scores = score_ctc_result(out_dir, seq_dir, None, division_tolerance_frames, threads)
    return {
        "sequence": str(seq_dir),
        "frames": len(markers),
        "objects": int(lineage.links.labels.size),
        "tracks": len(lineage.tracks),
        "divisions": sum(1 for t in lineage.tracks if t.division_frame is not None),
        "track_s": round(track_s, 3),
        "problems": problems,
        "scores": scores.to_json() if scores else None,
        "params": params.model_dump(),
        "intensity": images is not None,
    }

"""The ``cellkiosk`` command: every part of the platform and its tools."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported lazily: `cellkiosk --help` loads nothing heavy
    from cellkiosk.tracking.params import TrackingParams


def cmd_up(args: argparse.Namespace) -> int:
    """All-in-one platform (embedded valkey, local storage, in-process TF)."""
    from cellkiosk.launcher import run

    return run(consumers_per_type=args.consumers)


def cmd_gateway(args: argparse.Namespace) -> int:
    """The HTTP gateway alone."""
    from cellkiosk.gateway.__main__ import main

    return main([])


def cmd_consumer(args: argparse.Namespace) -> int:
    """A consumer alone."""
    from cellkiosk.consumer.__main__ import main

    return main(args.rest)


def cmd_train(args: argparse.Namespace) -> int:
    """Train (or resume) the nuclear model."""
    from cellkiosk.training.train import TrainConfig, train

    cfg = TrainConfig(
        data_dir=args.data,
        out_dir=args.out,
        epochs=args.epochs,
        steps_per_epoch=args.steps,
        crop_px=args.crop,
        batch_size=args.batch,
        modalities=args.modality,
        seed=args.seed,
        limit_images=args.limit,
        learning_rate=args.lr,
        min_learning_rate=args.min_lr,
        init_from=args.init,
        ctc_sequences=args.ctc or [],
        ctc_frames=args.ctc_frames,
        ctc_scale=args.ctc_scale,
        ctc_share=args.ctc_share,
        ctc_seg=args.ctc_seg,
        diameter_px=args.diameter,
        scale_min=args.scale_range[0],
        scale_max=args.scale_range[1],
    )
    print(train(cfg))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Score a model on an annotated folder; prints JSON."""
    from cellkiosk.training.dataset import load_folder
    from cellkiosk.training.evaluate import evaluate_folder

    samples = load_folder(
        args.data, split=args.split, modalities=set(args.modality) if args.modality else None, limit=args.limit
    )
    overrides = json.loads(args.params) if args.params else {}
    report = evaluate_folder(Path(args.model), samples, overrides, flip_tta=args.flip_tta)
    text = json.dumps(report, indent=2)
    if args.out:
        Path(args.out).write_text(text)
    print(text)
    return 0


def segment_and_track(
    seq_dir: Path,
    model_dir: Path,
    out_dir: Path,
    params: TrackingParams,
    scale: float,
    threads: int,
    tolerance: int,
    seg_overrides: dict[str, object] | None = None,
    frames: range | None = None,
) -> dict[str, object]:
    """Segment every raw frame of a CTC sequence with a model, track, write the CTC result, validate, score.

    The same steps as a tracking job (frames resized by ``scale`` for the network, labels mapped back);
    the ground truth is ``<seq_dir>_GT`` beside the sequence. ``frames`` scores only that stretch of the
    movie (e.g. the frames a fine-tuned model never saw), against the ground truth cut to it.
    """
    import dataclasses
    import tempfile
    import time

    import numpy as np
    import tifffile

    from cellkiosk.consumer.archive import label_dtype
    from cellkiosk.evaluation.tracking import cut_ground_truth, score_tracking
    from cellkiosk.imaging.resize import resize_frame, resize_labels
    from cellkiosk.inference.model_card import ModelCard
    from cellkiosk.inference.predictor import LocalPredictor
    from cellkiosk.inference.segment import labels_from_heads, predict_frames, watershed_params
    from cellkiosk.tracking.ctc_io import validate_ctc
    from cellkiosk.tracking.movie import track_movie, write_ctc_result

    card, predictor = ModelCard.read(model_dir), LocalPredictor()
    ws, raws = watershed_params(card, seg_overrides or {}), sorted(seq_dir.glob("t*.tif"))
    whole_movie = len(raws)
    frames = frames or range(whole_movie)
    raws = raws[frames.start : frames.stop]
    if not raws:
        raise ValueError(f"{seq_dir}: no frames in {frames.start}:{frames.stop}")
    frames = range(frames.start, frames.start + len(raws))
    with tifffile.TiffFile(raws[0]) as tif:  # the frame size, from the header
        height, width = tif.pages[0].shape[:2]
    start, labels = time.perf_counter(), []
    images = (resize_frame(np.asarray(tifffile.imread(p))[..., None], scale) for p in raws)
    for heads in predict_frames(images, card, predictor, card.inputs.tile_px, card.inputs.tile_overlap_px, 4):
        frame = resize_labels(labels_from_heads(heads, card, ws), (height, width))
        labels.append(frame.astype(label_dtype(frame)))
    segment_s, start = time.perf_counter() - start, time.perf_counter()
    lineage = track_movie(labels, (tifffile.imread(p) for p in raws), params)
    track_s = time.perf_counter() - start
    write_ctc_result(out_dir, lineage, labels, np.asarray)
    problems = validate_ctc(out_dir)
    gt_root = seq_dir.parent / f"{seq_dir.name}_GT"
    with tempfile.TemporaryDirectory() as tmp:
        if len(frames) != whole_movie:
            gt_root = cut_ground_truth(gt_root, frames, Path(tmp) / "GT")
        scores = score_tracking(out_dir, gt_root, tolerance, threads) if not problems else None
    return {
        "sequence": str(seq_dir), "model": f"{card.name}:{card.version}", "scale": scale, "frames": len(raws),
        "frame_range": [frames.start, frames.stop],
        "objects": int(lineage.links.labels.size), "tracks": len(lineage.tracks),
        "divisions": sum(1 for t in lineage.tracks if t.division_frame is not None),
        "segment_s": round(segment_s, 2), "track_s": round(track_s, 3), "problems": problems,
        "scores": scores.to_json() if scores else None, "params": params.model_dump(),
        "postprocess": dataclasses.asdict(ws),
    }  # fmt: skip


def frame_range(text: str) -> range:
    """``START:STOP`` (either may be empty: ``32:`` is frame 32 to the end) as a range; argparse type."""
    start, sep, stop = text.partition(":")
    try:
        if not sep:
            raise ValueError
        frames = range(int(start or 0), int(stop) if stop else 1_000_000_000)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected START:STOP, e.g. 32:65, got {text!r}") from None
    if frames.start < 0 or not len(frames):
        raise argparse.ArgumentTypeError(f"empty or negative frame range {text!r}")
    return frames


def cmd_evaluate_tracking(args: argparse.Namespace) -> int:
    """Score a CTC tracking result, or track a sequence (GT markers or segmented frames) and score that; prints JSON."""
    from cellkiosk.evaluation.tracking import link_ground_truth, score_tracking
    from cellkiosk.postprocess.deep_watershed import WatershedParams
    from cellkiosk.tracking.params import TrackingParams

    modes = [bool(args.res or args.gt), bool(args.link_gt), bool(args.segment)]
    if sum(modes) != 1 or ((args.link_gt or args.segment) and not args.out):
        print(
            "evaluate-tracking: give either --res DIR --gt DIR, --link-gt SEQ_DIR --out DIR, "
            "or --segment SEQ_DIR [--model DIR] --out DIR",
            file=sys.stderr,
        )
        return 2
    if args.link_gt or args.segment:
        try:
            params = TrackingParams.model_validate(json.loads(args.params) if args.params else {})
            seg_overrides = json.loads(args.seg_params) if args.seg_params else {}
            unknown = set(seg_overrides) - set(WatershedParams.__dataclass_fields__)
            if unknown:
                raise ValueError(f"unknown post-processing parameters {sorted(unknown)}")
        except ValueError as error:  # bad JSON or a bad/unknown parameter (pydantic's error is a ValueError)
            print(f"evaluate-tracking: --params/--seg-params: {error}", file=sys.stderr)
            return 2
        if args.segment:
            report = segment_and_track(
                Path(args.segment), Path(args.model), Path(args.out), params, args.scale, args.threads,
                args.division_tolerance, seg_overrides, args.frames,
            )  # fmt: skip
        else:
            report = link_ground_truth(args.link_gt, args.out, params, args.threads, args.division_tolerance)
        valid = not report["problems"]
    else:
        if not (args.res and args.gt):
            print("evaluate-tracking: --res and --gt go together", file=sys.stderr)
            return 2
        scores = score_tracking(args.res, args.gt, args.division_tolerance, args.threads)
        report, valid = scores.to_json(), scores.valid
    text = json.dumps(report, indent=2)
    if args.report:
        Path(args.report).write_text(text)
    print(text)
    return 0 if valid else 1


def cmd_submit(args: argparse.Namespace) -> int:
    """Analyse files/folders on a server into a results folder (resumable)."""
    from cellkiosk.client.commands import submit

    return submit(args)


def cmd_status(args: argparse.Namespace) -> int:
    """Show a job."""
    from cellkiosk.client.commands import status

    return status(args)


def cmd_download(args: argparse.Namespace) -> int:
    """Download and unpack a job's result."""
    from cellkiosk.client.commands import download

    return download(args)


def cmd_cancel(args: argparse.Namespace) -> int:
    """Cancel a job."""
    from cellkiosk.client.commands import cancel

    return cancel(args)


def cmd_models(args: argparse.Namespace) -> int:
    """List a server's models."""
    from cellkiosk.client.commands import models

    return models(args)


def _client_options(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--server", default=os.environ.get("CELLKIOSK_SERVER", "http://127.0.0.1:8000"), help="gateway URL")
    p.add_argument("--api-key", default=os.environ.get("CELLKIOSK_API_KEY"), help="sent as X-API-Key")
    p.add_argument("--retries", type=int, default=5, help="retries on network errors and 429/503 (default 5)")
    return p


def _client_parsers(sub: argparse._SubParsersAction) -> None:
    s = _client_options(sub.add_parser("submit", help="analyse images/folders into a results folder (resumable)"))
    s.add_argument("paths", nargs="+", metavar="DIR_OR_FILE")
    s.add_argument("--out", required=True, help="results folder (mirrors the input tree; summary.csv)")
    s.add_argument("--type", default="segmentation", help="job type (default segmentation)")
    s.add_argument("--model", help="model name (default: the server's default for the type)")
    s.add_argument("--param", action="append", metavar="KEY=VALUE", help="job parameter; value read as JSON if it is")
    s.add_argument("--include", action="append", metavar="GLOB", help="only files matching (default: images)")
    s.add_argument("--exclude", action="append", metavar="GLOB", help="skip files matching")
    s.add_argument("--concurrency", type=int, default=8, help="files in flight at once (default 8)")
    s.add_argument(
        "--presign-above",
        type=int,
        default=32 << 20,
        metavar="BYTES",
        help="upload larger files with a presigned PUT (default 32 MiB)",
    )
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bars or summary line (failures still)")
    s.set_defaults(func=cmd_submit)
    for name, func, what in (("status", cmd_status, "show a job"), ("cancel", cmd_cancel, "cancel a job")):
        p = _client_options(sub.add_parser(name, help=what))
        p.add_argument("job")
        p.set_defaults(func=func, json=False)
    sub.choices["status"].add_argument("--json", action="store_true", help="the job's full JSON")
    d = _client_options(sub.add_parser("download", help="download and unpack a job's result"))
    d.add_argument("job")
    d.add_argument("--out", help="folder to unpack into (default ./JOB)")
    d.add_argument("--wait", action="store_true", help="wait for the job to finish first")
    d.set_defaults(func=cmd_download)
    m = _client_options(sub.add_parser("models", help="the server's models and their cards"))
    m.add_argument("--json", action="store_true", help="full model cards as JSON")
    m.set_defaults(func=cmd_models)


def cmd_export(args: argparse.Namespace) -> int:
    """Export a checkpoint as a model directory with a measured model card."""
    from cellkiosk.training.finalize import export_and_measure

    card = export_and_measure(
        Path(args.checkpoint), Path(args.run), Path(args.out), Path(args.data), args.version, args.name
    )
    print(json.dumps(card.metrics, indent=2))
    return 0


def parser() -> argparse.ArgumentParser:
    """The argument parser with one subcommand per part."""
    p = argparse.ArgumentParser(prog="cellkiosk", description="Deep-learning analysis of microscopy images.")
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="run the whole platform on this machine (embedded default)")
    up.add_argument("--consumers", type=int, default=1, help="consumer processes per job type")
    up.set_defaults(func=cmd_up)
    sub.add_parser("gateway", help="run the HTTP gateway (CELLKIOSK_* settings)").set_defaults(func=cmd_gateway)
    consumer = sub.add_parser("consumer", help="run a queue consumer (see --help)", add_help=False)
    consumer.add_argument("rest", nargs=argparse.REMAINDER)
    consumer.set_defaults(func=cmd_consumer)
    train = sub.add_parser("train", help="train the nuclear segmentation model (resumes from checkpoints)")
    train.add_argument("--data", default="../shared/data/dsb2018")
    train.add_argument("--out", default="runs/nuclear")
    train.add_argument("--epochs", type=int, default=45)
    train.add_argument("--steps", type=int, default=100, help="steps per epoch")
    train.add_argument("--crop", type=int, default=128)
    train.add_argument("--batch", type=int, default=16)
    train.add_argument("--modality", action="append", default=None)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--limit", type=int, default=None, help="use only the first N images (smoke runs)")
    train.add_argument("--lr", type=float, default=2e-3, help="initial learning rate (cosine decay)")
    train.add_argument("--min-lr", type=float, default=5e-5, help="final learning rate")
    train.add_argument("--init", help="fine-tune: start from a .keras checkpoint or a model directory (models/nuclear/1)")
    train.add_argument("--ctc", action="append", metavar="SEQ_DIR", help="mix in a CTC sequence's frames + markers")
    train.add_argument("--ctc-frames", type=float, default=0.5, help="fraction of each CTC movie used (the start)")
    train.add_argument("--ctc-scale", type=float, default=0.4, help="resize CTC frames by this (nucleus size)")
    train.add_argument("--ctc-share", type=float, default=0.5, help="fraction of each batch from CTC frames")
    train.add_argument("--ctc-seg", action="store_true", help="label CTC frames by their SEG masks (sparse: masked)")
    train.add_argument("--diameter", type=float, help="resize every image so its median nucleus is this many px")
    train.add_argument("--scale-range", type=float, nargs=2, default=(0.5, 2.0), metavar=("MIN", "MAX"),
                       help="scale jitter on top (log-uniform; default 0.5 2)")  # fmt: skip
    train.set_defaults(func=cmd_train)
    ev = sub.add_parser("evaluate", help="segment an annotated folder and report AP, mAP, F1, merges, splits")
    ev.add_argument("--model", required=True, help="model directory, e.g. models/nuclear/1")
    ev.add_argument("--data", default="../shared/data/dsb2018")
    ev.add_argument("--split", default="val")
    ev.add_argument("--modality", action="append")
    ev.add_argument("--limit", type=int)
    ev.add_argument("--params", help="post-processing overrides as JSON, e.g. '{\"seed_threshold\": 0.5}'")
    ev.add_argument("--flip-tta", action="store_true")
    ev.add_argument("--out", help="also write the JSON report here")
    ev.set_defaults(func=cmd_evaluate)
    et = sub.add_parser("evaluate-tracking", help="TRA, DET and division F1 of a CTC result (or of GT-marker linking)")
    et.add_argument("--res", help="CTC result folder (res_track.txt, maskTTT.tif)")
    et.add_argument("--gt", help="CTC ground-truth folder, e.g. .../01_GT")
    et.add_argument("--link-gt", metavar="SEQ_DIR", help="track a sequence's GT markers, e.g. .../SIM+/01")
    et.add_argument("--segment", metavar="SEQ_DIR", help="segment a sequence's raw frames with --model, then track")
    et.add_argument(
        "--model",
        default="models/nuclear-timelapse/1",
        help="with --segment: model directory (default: what tracking:2 runs)",
    )
    et.add_argument("--scale", type=float, default=1.0, help="with --segment: resize frames by this for the network")
    et.add_argument("--seg-params", help="with --segment: post-processing overrides as JSON (as for evaluate)")
    et.add_argument(
        "--frames",
        type=frame_range,
        metavar="START:STOP",
        help="with --segment: only these frames (0-based, STOP excluded)",
    )
    et.add_argument("--out", help="with --link-gt or --segment: folder for the CTC result")
    et.add_argument("--params", help="tracker overrides as JSON, e.g. '{\"max_distance_px\": 25}'")
    et.add_argument("--division-tolerance", type=int, default=0, help="frames a division may be off, BC(i)")
    et.add_argument("--threads", type=int, default=1, help="processes for mask matching (0: all CPUs)")
    et.add_argument("--report", help="also write the JSON report here")
    et.set_defaults(func=cmd_evaluate_tracking)
    _client_parsers(sub)
    ex = sub.add_parser("export", help="export a checkpoint to models/<name>/<version> with measured metrics")
    ex.add_argument("--checkpoint", default="runs/nuclear/last.keras")
    ex.add_argument("--run", default="runs/nuclear", help="training run folder (config, log)")
    ex.add_argument("--out", default="models/nuclear/1")
    ex.add_argument("--data", default="../shared/data/dsb2018")
    ex.add_argument("--version", default="1")
    ex.add_argument("--name", default="nuclear", help="model name in the card (the folder is --out)")
    ex.set_defaults(func=cmd_export)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``cellkiosk`` console script."""
    args = parser().parse_args(argv)
    if args.command in ("train", "evaluate", "export"):
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if args.command == "train" and args.modality is None:
        args.modality = ["fluorescence"]
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())

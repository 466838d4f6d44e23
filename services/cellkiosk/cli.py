"""The ``cellkiosk`` command: every part of the platform and its tools."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path


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


def cmd_autoscaler(args: argparse.Namespace) -> int:
    """The built-in autoscaler (clusters without KEDA)."""
    from cellkiosk.autoscaler.__main__ import main

    return main(args.rest)


def cmd_simulate(args: argparse.Namespace) -> int:
    """Capacity and cost simulation of a workload through the scaling policy."""
    from cellkiosk.autoscaler.simulate_cli import main

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
        object_gain_p=args.object_gain,
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
    diameter = args.diameter if args.diameter in ("auto", "native") else float(args.diameter)
    report = evaluate_folder(
        Path(args.model), samples, overrides, args.flip_tta, diameter, args.group_by, args.precision
    )
    text = json.dumps(report, indent=2)
    if args.out:
        Path(args.out).write_text(text)
    print(text)
    return 0


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


def diameter_value(text: str) -> str | float:
    """``auto`` or a diameter in px, as ``params.diameter``; argparse type."""
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected auto or a diameter in px, got {text!r}") from None


def tracking_job_params(args: argparse.Namespace) -> dict[str, object]:
    """The params of a tracking job equal to evaluate-tracking's options; ValueError naming a bad one."""
    from cellkiosk.core.params import TrackingJobParams
    from cellkiosk.postprocess.deep_watershed import WatershedParams
    from cellkiosk.tracking.params import TrackingParams

    tracker = json.loads(args.params) if args.params else {}
    TrackingParams.model_validate(tracker)
    post = json.loads(args.seg_params) if args.seg_params else {}
    unknown = set(post) - set(WatershedParams.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown post-processing parameters {sorted(unknown)}")
    params: dict[str, object] = {**post, "tracking": tracker}
    if args.scale is not None:
        params["scale"] = args.scale
    if args.diameter != "auto":
        params["diameter"] = args.diameter
    TrackingJobParams.model_validate(params)  # the bounds a job's params are checked against
    return params


def cmd_evaluate_tracking(args: argparse.Namespace) -> int:
    """Score a CTC tracking result, or track a sequence (GT markers or segmented frames) and score that; prints JSON."""
    from cellkiosk.core.errors import BadInputError
    from cellkiosk.evaluation.tracking import link_ground_truth, score_tracking
    from cellkiosk.tracking.params import TrackingParams
    from cellkiosk.training.tracking_eval import segment_and_track

    modes = [bool(args.res or args.gt), bool(args.link_gt), bool(args.segment)]
    if sum(modes) != 1 or ((args.link_gt or args.segment) and not args.out):
        print(
            "evaluate-tracking: give either --res DIR --gt DIR, --link-gt SEQ_DIR --out DIR, "
            "or --segment SEQ_DIR [--model NAME[:VERSION]] --out DIR",
            file=sys.stderr,
        )
        return 2
    if args.link_gt or args.segment:
        try:
            job_params = tracking_job_params(args)
        except ValueError as error:  # bad JSON or a bad/unknown parameter (pydantic's error is a ValueError)
            print(f"evaluate-tracking: --params/--seg-params/--scale/--diameter: {error}", file=sys.stderr)
            return 2
        if args.segment:
            models_dir = Path(args.models_dir) if args.models_dir else None
            try:
                report = segment_and_track(
                    Path(args.segment), Path(args.out), args.model, job_params, models_dir, args.frames,
                    args.division_tolerance, args.threads,
                )  # fmt: skip
            except BadInputError as error:  # an unknown model, a frame too large once resized
                print(f"evaluate-tracking: {error}", file=sys.stderr)
                return 2
        else:
            params = TrackingParams.model_validate(job_params["tracking"])
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

    unseen = Path(args.unseen) if args.unseen else None
    card = export_and_measure(
        Path(args.checkpoint), Path(args.run), Path(args.out), Path(args.data), args.version, args.name, unseen
    )
    print(json.dumps(card.metrics, indent=2))
    return 0


def cmd_export_tfserving(args: argparse.Namespace) -> int:
    """Lay the model store out for TF Serving (models.config, batching parameters)."""
    from cellkiosk.core.errors import BadInputError
    from cellkiosk.inference.tfserving_export import BatchingParameters, export_tfserving

    models_dir = Path(args.models_dir or os.environ.get("CELLKIOSK_MODELS_DIR", "models"))
    batching = BatchingParameters(max_batch_size=args.max_batch_size)
    try:
        cards = export_tfserving(models_dir, Path(args.out), args.base_path, batching)
    except BadInputError as exc:
        print(f"cellkiosk export-tfserving: {exc}", file=sys.stderr)
        return 2
    for card in cards:
        print(f"{card.served_name}/{card.version}")
    print(f"wrote {args.out}: models.config, batching_parameters.txt (max_batch_size {args.max_batch_size})")
    return 0


def cmd_pull_models(args: argparse.Namespace) -> int:
    """Copy a model store from a bucket to a folder (the chart's init containers)."""
    from cellkiosk.core.logs import setup_logging
    from cellkiosk.core.settings import CommonSettings
    from cellkiosk.core.storage import StorageError, open_storage
    from cellkiosk.inference.store_pull import pull_model_store

    settings = CommonSettings()
    setup_logging(settings.log_level, settings.log_json)
    storage = open_storage(args.url, endpoint_url=settings.s3_endpoint_url, region=settings.s3_region)
    try:
        models = pull_model_store(storage, Path(args.dest))
    except (StorageError, ValueError) as exc:
        print(f"cellkiosk pull-models: {exc}", file=sys.stderr)
        return 2
    print("\n".join(models))
    return 0


def cmd_measure_card(args: argparse.Namespace) -> int:
    """Measure a model directory again as export does, and rewrite its card's metrics and post-processing."""
    from cellkiosk.training.finalize import remeasure

    card = remeasure(Path(args.model), Path(args.data), Path(args.unseen) if args.unseen else None)
    print(json.dumps(card.metrics, indent=2))
    return 0


def cmd_export_tracking(args: argparse.Namespace) -> int:
    """Measure a tracking card on CTC sequences through its jobs' own path and write the metrics into it."""
    from cellkiosk.training.tracking_card import export_tracking_card

    card = export_tracking_card(Path(args.card), [Path(s) for s in args.seq], args.unseen_from)
    print(json.dumps(card.metrics, indent=2))
    return 0


def cmd_record_checkpoint(args: argparse.Namespace) -> int:
    """Score a run's last checkpoint on val fluorescence and append it to a history CSV."""
    from cellkiosk.training.finalize import record_checkpoint

    run = Path(args.run)
    print(json.dumps(record_checkpoint(run / "last.keras", run, Path(args.data), Path(args.history))))
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
    autoscaler = sub.add_parser("autoscaler", help="size consumers and TF Serving from the queues (see --help)",
                                add_help=False)  # fmt: skip
    autoscaler.add_argument("rest", nargs=argparse.REMAINDER)
    autoscaler.set_defaults(func=cmd_autoscaler)
    simulate = sub.add_parser("simulate", help="capacity and cost of a workload on Kubernetes (see --help)",
                              add_help=False)  # fmt: skip
    simulate.add_argument("rest", nargs=argparse.REMAINDER)
    simulate.set_defaults(func=cmd_simulate)
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
    train.add_argument("--init", help="fine-tune from a .keras checkpoint or a model directory (models/nuclear/1)")
    train.add_argument("--ctc", action="append", metavar="SEQ_DIR", help="mix in a CTC sequence's frames + markers")
    train.add_argument("--ctc-frames", type=float, default=0.5, help="fraction of each CTC movie used (the start)")
    train.add_argument("--ctc-scale", type=float, default=0.4, help="resize CTC frames by this (nucleus size)")
    train.add_argument("--ctc-share", type=float, default=0.5, help="fraction of each batch from CTC frames")
    train.add_argument("--ctc-seg", action="store_true", help="label CTC frames by their SEG masks (sparse: masked)")
    train.add_argument("--diameter", type=float, help="resize every image so its median nucleus is this many px")
    train.add_argument("--scale-range", type=float, nargs=2, default=(0.5, 2.0), metavar=("MIN", "MAX"),
                       help="scale jitter on top (log-uniform; default 0.5 2)")  # fmt: skip
    train.add_argument("--object-gain", type=float, default=0.0, metavar="P",
                       help="share of crops whose nuclei get their own brightness (0.3-1.5x)")  # fmt: skip
    train.set_defaults(func=cmd_train)
    ev = sub.add_parser("evaluate", help="segment an annotated folder and report AP, mAP, F1, merges, splits")
    ev.add_argument("--model", required=True, help="model directory, e.g. models/nuclear/1")
    ev.add_argument("--data", default="../shared/data/dsb2018")
    ev.add_argument("--split", default="val")
    ev.add_argument("--modality", action="append")
    ev.add_argument("--limit", type=int)
    ev.add_argument("--params", help="post-processing overrides as JSON, e.g. '{\"seed_threshold\": 0.5}'")
    ev.add_argument("--flip-tta", action="store_true")
    ev.add_argument("--diameter", default="auto", help="as params.diameter: auto (default), px, or native (scale 1)")
    ev.add_argument("--group-by", default="modality", choices=["modality", "cell_line"], help="report groups")
    ev.add_argument(
        "--precision", default="float32", choices=["float32", "bfloat16"], help="as CELLKIOSK_PRECISION (a consumer's)"
    )
    ev.add_argument("--out", help="also write the JSON report here")
    ev.set_defaults(func=cmd_evaluate)
    et = sub.add_parser("evaluate-tracking", help="TRA, DET and division F1 of a CTC result (or of GT-marker linking)")
    et.add_argument("--res", help="CTC result folder (res_track.txt, maskTTT.tif)")
    et.add_argument("--gt", help="CTC ground-truth folder, e.g. .../01_GT")
    et.add_argument("--link-gt", metavar="SEQ_DIR", help="track a sequence's GT markers, e.g. .../SIM+/01")
    et.add_argument(
        "--segment",
        metavar="SEQ_DIR",
        help="run a sequence's raw frames through a tracking job's segmentation and linking, then score",
    )
    et.add_argument(
        "--model",
        metavar="NAME[:VERSION]",
        help="with --segment: tracking model in the model store (default: what a job naming none runs)",
    )
    et.add_argument("--models-dir", help="with --segment: the model store (default: CELLKIOSK_MODELS_DIR or models)")
    et.add_argument("--scale", type=float, help="with --segment: params.scale (default: the job's size choice)")
    et.add_argument(
        "--diameter", type=diameter_value, default="auto", help="with --segment: params.diameter, auto (default) or px"
    )
    et.add_argument(
        "--seg-params",
        help="with --segment: the job's post-processing params as JSON, e.g. '{\"seed_threshold\": 0.5}' "
        "(null: the default)",
    )
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
    ex.add_argument(
        "--unseen",
        default="../shared/data/coelho2009",
        help="annotated set nobody trains or tunes on, measured into the card ('' to skip)",
    )
    ex.set_defaults(func=cmd_export)
    mc = sub.add_parser("measure-card", help="measure a model directory again (val, unseen set) into its card")
    mc.add_argument("--model", required=True, help="model directory, e.g. models/nuclear/1")
    mc.add_argument("--data", default="../shared/data/dsb2018")
    mc.add_argument("--unseen", default="../shared/data/coelho2009", help="never trained or tuned on ('' to skip)")
    mc.set_defaults(func=cmd_measure_card)
    et2 = sub.add_parser("export-tracking", help="measure a tracking card on CTC sequences and write its metrics")
    et2.add_argument("--card", required=True, help="the card's folder in the model store, e.g. models/tracking/3")
    et2.add_argument("--seq", action="append", required=True, metavar="SEQ_DIR", help="a CTC sequence (repeat)")
    et2.add_argument(
        "--unseen-from", type=float, default=0.5, help="fraction of each movie after which frames were never trained on"
    )
    et2.set_defaults(func=cmd_export_tracking)
    rc = sub.add_parser("record-checkpoint", help="score a training run's last checkpoint on val into a history CSV")
    rc.add_argument("--run", default="runs/nuclear", help="training run folder (last.keras, state.json, config)")
    rc.add_argument("--data", default="../shared/data/dsb2018")
    rc.add_argument("--history", required=True, help="CSV to append to, e.g. models/nuclear/training_history.csv")
    rc.set_defaults(func=cmd_record_checkpoint)
    tf = sub.add_parser("export-tfserving", help="lay the model store out for TF Serving (<name>/<version>/, config)")
    tf.add_argument("out", help="new or empty folder")
    tf.add_argument("--models-dir", help="model store (default: CELLKIOSK_MODELS_DIR or models)")
    tf.add_argument("--base-path", help="where OUT will be inside the server, e.g. /models (default: OUT)")
    tf.add_argument("--max-batch-size", type=int, default=32, help="TF Serving's max_batch_size (default 32)")
    tf.set_defaults(func=cmd_export_tfserving)
    pm = sub.add_parser("pull-models", help="copy a model store from a bucket (s3://bucket/prefix) to a folder")
    pm.add_argument("url", help="s3://bucket/prefix holding <name>/<version>/ folders (CELLKIOSK_S3_* settings apply)")
    pm.add_argument("dest", help="local folder (created)")
    pm.set_defaults(func=cmd_pull_models)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``cellkiosk`` console script."""
    argv = sys.argv[1:] if argv is None else argv
    passing = {"consumer": cmd_consumer, "autoscaler": cmd_autoscaler, "simulate": cmd_simulate}
    if argv and argv[0] in passing:  # their own parsers take every option, --help included
        return int(passing[argv[0]](argparse.Namespace(rest=argv[1:])))
    args = parser().parse_args(argv)
    if args.command in ("train", "evaluate", "export", "record-checkpoint", "export-tracking", "measure-card"):
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if args.command == "train" and args.modality is None:
        args.modality = ["fluorescence"]
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())

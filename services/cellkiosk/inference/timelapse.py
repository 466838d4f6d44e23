"""A movie segmented frame by frame and linked: the one path a tracking job and ``evaluate-tracking`` run.

:func:`plan_tracking` resolves what a tracking job runs from the model store and the job's params (the
tracking card, its segmentation model, the tracker parameters, the per-frame post-processing);
:func:`segment_and_link` chooses one object size for the movie, segments it in batches of frames into
a label movie and links it. Nothing here needs a job: progress and cancel points are a callback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from cellkiosk.core.errors import BadInputError
from cellkiosk.core.jobs import Stage
from cellkiosk.core.params import TrackingJobParams
from cellkiosk.imaging.channels import select_channels
from cellkiosk.imaging.movie import Movie
from cellkiosk.imaging.resize import resize_frame, resize_labels
from cellkiosk.inference.model_card import ModelCard
from cellkiosk.inference.predictor import Predictor
from cellkiosk.inference.segment import labels_from_heads, predict_frames, watershed_params
from cellkiosk.inference.size import SizeChoice, check_scaled_size, choose_size
from cellkiosk.inference.store import ModelStore
from cellkiosk.postprocess.deep_watershed import WatershedParams
from cellkiosk.tracking.lineage import Lineage
from cellkiosk.tracking.movie import measure_movie, track_movie
from cellkiosk.tracking.params import TrackingParams
from cellkiosk.tracking.settle import settle_divisions

SIZE_FRAMES = 3  # frames of a movie the nuclear diameter is estimated on
DISTANCE_PARAMS = ("max_distance_px", "division_max_distance_px")  # tracker parameters in pixels
TRACKING = "tracking"  # the job type

# Called on entering a stage and per frame with the job's progress (0-100); a job's raises to cancel.
Progress = Callable[[Stage, float], object]


def no_progress(stage: Stage, progress: float) -> None:
    """A :data:`Progress` that reports nothing."""


@dataclass(frozen=True)
class TrackingPlan:
    """What a tracking job runs: the models, the tracker's parameters and the per-frame post-processing."""

    card: ModelCard  # the tracking card
    seg_card: ModelCard  # the model segmenting each frame
    tracking: TrackingParams  # the card's defaults (in its units) with the job's overrides
    postprocess: WatershedParams
    overridden: frozenset[str] = frozenset()  # tracker parameters the job set (image pixels, never rescaled)

    @property
    def segmented_by(self) -> str:
        """``name:version`` of the segmentation model."""
        return f"{self.seg_card.name}:{self.seg_card.version}"


def plan_tracking(models: ModelStore, model: str | None, params: TrackingJobParams) -> TrackingPlan:
    """Resolve a tracking job's models and parameters; ``model`` None is the store's default tracking model.

    Tracker parameters are the card's ``tracking`` then the job's ``params.tracking``; post-processing is the
    segmentation card's, then the tracking card's per-frame ``segmentation`` defaults, then the job's.
    """
    card = models.get(model, TRACKING) if model else models.default_for(TRACKING)
    if card is None:
        raise BadInputError(f"no tracking model in the model store {models.root}")
    seg_card = models.get(card.segmentation_model or "nuclear", "segmentation")
    overrides = params.tracking.model_dump(exclude_none=True)
    tracking = TrackingParams.model_validate({**card.tracking, **overrides})
    postprocess = watershed_params(seg_card, {**card.watershed_defaults, **params.watershed_overrides()})
    return TrackingPlan(card, seg_card, tracking, postprocess, frozenset(overrides))


def sized_tracking(plan: TrackingPlan, diameter_px: float | None) -> TrackingParams:
    """The tracker's parameters for nuclei ``diameter_px`` across (image pixels).

    A tracking card with ``tracking_diameter_px`` gives its distances for nuclei of that size: they are
    scaled by ``diameter_px / tracking_diameter_px``, so a movie of smaller or larger nuclei (or one
    imaged at another magnification) gets search radii in proportion. Distances the job set itself, and
    every distance when the diameter or the card's reference is unknown, stay as they are.
    """
    reference = plan.card.tracking_diameter_px
    if reference is None or diameter_px is None or not np.isfinite(diameter_px):
        return plan.tracking
    factor = diameter_px / reference
    scaled = {key: getattr(plan.tracking, key) * factor for key in DISTANCE_PARAMS if key not in plan.overridden}
    return plan.tracking.model_copy(update=scaled)


def movie_diameter(size: SizeChoice, seg_card: ModelCard) -> float | None:
    """The nuclei's diameter in image pixels that a movie was segmented at: the estimate or given diameter, or
    (a fixed scale) the model's trained diameter mapped back through the scale."""
    if size.diameter_px is not None:
        return size.diameter_px
    if seg_card.inputs.diameter_px is None:
        return None
    return seg_card.inputs.diameter_px / size.scale


def model_input(plan: TrackingPlan, movie: Movie, channels: list[int] | None) -> Movie:
    """The movie as the segmentation model's input channels (``params.channels``, or grey), frame by frame."""
    seg = plan.seg_card
    return movie.mapped(lambda f: select_channels(f, seg.n_channels, channels, seg.name, movie.source_axes))


def movie_size(
    plan: TrackingPlan,
    data: Movie,
    params: TrackingJobParams,
    predictor: Predictor,
    progress: Progress = no_progress,
    batch_size: int = 4,
    max_image_pixels: int | None = None,
) -> SizeChoice:
    """One scale for the whole movie: ``params.scale``, a tracking card's fixed ``segmentation.scale``, or
    ``params.diameter`` (``"auto"``: the median estimate of :data:`SIZE_FRAMES` frames spread over the movie)."""
    card, seg_card = plan.card, plan.seg_card
    progress(Stage.SIZE, 5)
    if params.scale:
        return SizeChoice(float(params.scale), None, "params.scale", seg_card.inputs.diameter_px)
    if "scale" in card.segmentation and params.diameter == "auto":
        fixed = float(card.segmentation["scale"])
        return SizeChoice(fixed, None, f"model {card.name}:{card.version}'s fixed scale", seg_card.inputs.diameter_px)
    picks = sorted({int(t) for t in np.linspace(0, len(data) - 1, min(SIZE_FRAMES, len(data))).round()})
    return choose_size(
        [data.frame(t) for t in picks], seg_card, predictor, params.diameter, None, batch_size, max_image_pixels
    )


def segment_movie(
    plan: TrackingPlan, data: Movie, params: TrackingJobParams, predictor: Predictor, scale: float, out: np.ndarray,
    batch_size: int, progress: Progress = no_progress,
) -> None:  # fmt: skip
    """Write the labels of every frame into ``out`` (T, Y, X), frames read one at a time and batched through
    the predictor (``batch_size`` frames' float heads at a time); progress per frame (5 % to 75 %)."""
    card = plan.seg_card
    tile_px = params.tile_px or card.inputs.tile_px
    n = len(data)

    def scaled() -> Iterator[np.ndarray]:
        for t, frame in enumerate(data.frames()):
            progress(Stage.PREDICT, 5 + 70 * t / n)
            yield resize_frame(frame, scale)

    heads_of_frames = predict_frames(
        scaled(), card, predictor, tile_px, card.inputs.tile_overlap_px, batch_size, params.flip_tta
    )
    for t, heads in enumerate(heads_of_frames):
        progress(Stage.POSTPROCESS, 5 + 70 * (t + 0.8) / n)
        out[t] = resize_labels(labels_from_heads(heads, card, plan.postprocess), data.shape[1:3])


def intensity_cue(frame: np.ndarray) -> np.ndarray:
    """The tracker's intensity cue of a (Y, X, C) frame in the model's channels: its first channel."""
    return frame[..., 0]


def link_movie(plan: TrackingPlan, labels: np.ndarray, data: Movie, tracking: TrackingParams | None = None) -> Lineage:
    """Link a (T, Y, X) label movie (with ``tracking``, default the plan's); the intensity cue
    (:func:`intensity_cue`) is read frame by frame."""
    return track_movie(iter(labels), map(intensity_cue, data.frames()), tracking or plan.tracking)


def segment_and_link(
    plan: TrackingPlan, data: Movie, params: TrackingJobParams, predictor: Predictor, out: np.ndarray,
    batch_size: int, max_image_pixels: int, name: str, progress: Progress = no_progress,
) -> tuple[SizeChoice, Lineage, TrackingParams]:  # fmt: skip
    """Choose the movie's object size, segment every frame of ``data`` (:func:`model_input`) into ``out``
    (T, Y, X) and link the labels with the tracker's parameters for that size: what a tracking job does.
    Divisions whose daughters still touch are postponed up to ``division_settle_frames`` (pieces merged in
    ``out``, :func:`cellkiosk.tracking.settle.settle_divisions`); an uploaded label movie is tracked as given.

    Parameters
    ----------
    plan : TrackingPlan
        From :func:`plan_tracking`.
    data : Movie
        (T, Y, X, C) in the segmentation model's channels.
    params : TrackingJobParams
        The job's parameters (scale, diameter, tile size, flip TTA).
    predictor : Predictor
        Runs the segmentation model (in process or TF Serving).
    out : ndarray, shape (T, Y, X)
        Receives the labels (a uint32 memmap in a job).
    batch_size : int
        Frames per predictor call.
    max_image_pixels : int
        Largest resized frame allowed (``BadInputError`` above it, naming ``name``).
    name : str
        The movie's name, for messages.
    progress : Progress
        Called per stage and frame; may raise to cancel.

    Returns
    -------
    SizeChoice, Lineage, TrackingParams
        The scale used and why; the tracks; the tracker's parameters used (:func:`sized_tracking`).
    """
    size = movie_size(plan, data, params, predictor, progress, batch_size, max_image_pixels)
    check_scaled_size((1, *data.shape[1:]), size.scale, max_image_pixels, name)
    segment_movie(plan, data, params, predictor, size.scale, out, batch_size, progress)
    progress(Stage.TRACK, 76)
    tracking = sized_tracking(plan, movie_diameter(size, plan.seg_card))
    measured = measure_movie(iter(out), map(intensity_cue, data.frames()))
    lineage, _ = settle_divisions(out, measured, lambda t: intensity_cue(data.frame(t)), tracking)  # early cuts
    return size, lineage, tracking

"""The tracker on synthetic movies with known truth: exact lineages and the invariants of its links."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import pydantic
import pytest

from cellkiosk.tracking.features import FrameObjects
from cellkiosk.tracking.lineage import Lineage, build_lineage, ctc_table
from cellkiosk.tracking.linking import link
from cellkiosk.tracking.movie import track_movie
from cellkiosk.tracking.params import TrackingParams
from tests.tracking.movies import SHAPE, Disk, division_movie, objects, paint, random_walk


def track_disks(movie: Sequence[Sequence[Disk]], params: TrackingParams | None = None) -> Lineage:
    """Paint a movie (label = true cell id) and track it."""
    return track_movie((paint(SHAPE, disks) for disks in movie), params=params)


def cells_of_tracks(lineage: Lineage) -> dict[int, set[int]]:
    """For every track, the true cell ids (the painted labels) of its objects."""
    found: dict[int, set[int]] = defaultdict(set)
    for label, track in zip(lineage.links.labels.tolist(), lineage.node_track.tolist(), strict=True):
        found[track].add(label)
    return dict(found)


def track_of_cell(lineage: Lineage) -> dict[int, int]:
    """The one track of each true cell; fails if a cell is split over tracks or a track mixes cells."""
    cells = cells_of_tracks(lineage)
    assert all(len(c) == 1 for c in cells.values()), f"a track mixes cells: {cells}"
    mapping = {next(iter(c)): t for t, c in cells.items()}
    assert len(mapping) == len(cells), f"a cell is split over tracks: {cells}"
    return mapping


def test_disks_at_constant_velocity_are_five_whole_tracks() -> None:
    velocities = [(4, 0), (0, 4), (-3, 3), (3, -2), (0, 0)]
    starts = [(30, 30), (40, 100), (120, 40), (60, 60), (130, 130)]
    movie = [
        [
            (k + 1, y + t * vy, x + t * vx, 6)
            for k, ((y, x), (vy, vx)) in enumerate(zip(starts, velocities, strict=True))
        ]
        for t in range(10)
    ]
    lineage = track_disks(movie)
    track_of_cell(lineage)
    assert [(t.first_frame, t.last_frame, t.parent, t.daughters) for t in lineage.tracks] == [(0, 9, 0, ())] * 5


def test_a_division_ends_the_mother_and_starts_two_daughters() -> None:
    lineage = track_disks(division_movie())
    track = track_of_cell(lineage)
    tracks = {t.track_id: t for t in lineage.tracks}
    mother, d1, d2 = tracks[track[1]], tracks[track[2]], tracks[track[3]]
    assert (mother.first_frame, mother.last_frame, mother.division_frame) == (0, 4, 5)
    assert sorted(mother.daughters) == sorted([d1.track_id, d2.track_id])
    assert (d1.parent, d1.first_frame, d1.last_frame) == (mother.track_id, 5, 9)
    assert (d2.parent, d2.first_frame, d2.last_frame) == (mother.track_id, 5, 9)
    assert tracks[track[4]].parent == 0 and not tracks[track[4]].daughters


def test_without_divisions_the_mother_continues_into_one_daughter() -> None:
    lineage = track_disks(division_movie(), TrackingParams(divisions=False))
    assert not any(t.daughters for t in lineage.tracks)
    assert len(lineage.tracks) == 3  # the mother + a daughter, the other daughter, cell 4


def test_a_disappearing_cell_ends_and_a_far_newcomer_is_not_linked_to_it() -> None:
    movie = [[(1, 40, 40 + 2 * t, 6)] + ([(2, 100, 100, 6)] if t < 5 else [(3, 100, 150, 6)]) for t in range(10)]
    lineage = track_disks(movie)
    track = track_of_cell(lineage)
    tracks = {t.track_id: t for t in lineage.tracks}
    assert (tracks[track[2]].first_frame, tracks[track[2]].last_frame) == (0, 4)
    assert (tracks[track[3]].first_frame, tracks[track[3]].parent) == (5, 0)
    assert (tracks[track[1]].first_frame, tracks[track[1]].last_frame) == (0, 9)


def test_a_one_frame_gap_is_closed_and_cut_for_ctc() -> None:
    movie = [[(1, 50, 30 + 3 * t, 6), (2, 120, 120, 6)] if t != 4 else [(2, 120, 120, 6)] for t in range(10)]
    lineage = track_disks(movie)
    track = track_of_cell(lineage)
    gapped = next(t for t in lineage.tracks if t.track_id == track[1])
    assert (gapped.first_frame, gapped.last_frame, gapped.missing_frames) == (0, 9, (4,))
    rows = ctc_table(lineage).rows.tolist()
    other = track[2]
    assert sorted(rows) == sorted([[gapped.track_id, 0, 3, 0], [3, 5, 9, gapped.track_id], [other, 0, 9, 0]])


def test_without_gap_closing_the_gap_splits_the_track() -> None:
    movie = [[(1, 50, 30 + 3 * t, 6)] if t != 4 else [] for t in range(10)]
    lineage = track_disks(movie, TrackingParams(max_gap_frames=0))
    assert [(t.first_frame, t.last_frame, t.parent) for t in lineage.tracks] == [(0, 3, 0), (5, 9, 0)]


def test_cells_passing_close_in_opposite_lanes_keep_their_identity() -> None:
    movie = [[(1, 70, 20 + 6 * t, 5), (2, 84, 140 - 6 * t, 5)] for t in range(20)]
    lineage = track_disks(movie)
    assert len(track_of_cell(lineage)) == 2 and len(lineage.tracks) == 2


def test_crossing_cells_of_different_size_are_not_swapped() -> None:
    # Both reach (25, 25) at t = 5: position alone is a tie there; the area cue decides.
    frames = [objects(t, [(5 * t, 5 * t), (5 * t, 50 - 5 * t)], [100, 300]) for t in range(11)]
    lineage = build_lineage(link(frames))
    area_of_track = defaultdict(set)
    for node, track in enumerate(lineage.node_track.tolist()):
        area_of_track[track].add(float(np.concatenate([f.areas for f in frames])[node]))
    assert len(lineage.tracks) == 2 and all(len(a) == 1 for a in area_of_track.values())


def link_lengths(frames: list[FrameObjects], lineage: Lineage) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Length, elapsed frames and is-a-daughter of every link."""
    xy = np.concatenate([f.centroids for f in frames])
    pred, t = lineage.links.predecessor, lineage.links.frames
    child = np.flatnonzero(pred >= 0)
    heads = {int(np.flatnonzero(lineage.node_track == tr.track_id)[0]) for tr in lineage.tracks if tr.parent}
    daughter = np.isin(child, list(heads))
    return np.linalg.norm(xy[child] - xy[pred[child]], axis=1), t[child] - t[pred[child]], daughter


def test_invariants_on_a_random_walk_with_divisions() -> None:
    frames, truth, parents = random_walk(300, 30, seed=3, divisions=12)
    params = TrackingParams()
    lineage = build_lineage(link(frames, params))
    length, elapsed, daughter = link_lengths(frames, lineage)
    # No link jumps farther than its search radius.
    assert (length[~daughter] <= params.max_distance_px * elapsed[~daughter] + 1e-9).all()
    assert (length[daughter] <= params.division_max_distance_px + 1e-9).all() and (elapsed[daughter] == 1).all()
    # At most two successors, and two only for a division into the next frame.
    pred = lineage.links.predecessor
    successors = np.bincount(pred[pred >= 0], minlength=pred.size)
    assert successors.max() <= 2
    # Every CTC track is contiguous in time and parents end before their children begin.
    table = ctc_table(lineage)
    frames_of = defaultdict(list)
    for label, t in zip(table.node_label.tolist(), lineage.links.frames.tolist(), strict=True):
        frames_of[label].append(t)
    ends = {int(r[0]): int(r[2]) for r in table.rows}
    for label, begin, end, parent in table.rows.tolist():
        assert sorted(frames_of[label]) == list(range(begin, end + 1))
        assert parent == 0 or ends[parent] < begin
    # And the tracker is right: links follow the true cells, divisions are found.
    node_cell = np.array(
        [truth[(t, int(lab))] for t, lab in zip(lineage.links.frames, lineage.links.labels, strict=True)]
    )
    same = node_cell[pred >= 0] == node_cell[pred[pred >= 0]]
    via_division = np.array(
        [parents.get(int(c)) == int(p) for c, p in zip(node_cell[pred >= 0], node_cell[pred[pred >= 0]], strict=True)]
    )
    assert (same | via_division).mean() > 0.999
    found = {
        (int(node_cell[n]), int(node_cell[pred[n]])) for n in np.flatnonzero(pred >= 0) if successors[pred[n]] == 2
    }
    assert found == {(d, m) for d, m in parents.items()}


def test_params_are_overridable_and_typos_are_refused() -> None:
    params = TrackingParams.model_validate({"max_distance_px": 12, "max_gap_frames": 0})
    assert params.max_distance_px == 12.0 and params.max_gap_frames == 0 and params.divisions
    with pytest.raises(pydantic.ValidationError, match="max_distanse_px"):
        TrackingParams.model_validate({"max_distanse_px": 12})
    with pytest.raises(pydantic.ValidationError):
        TrackingParams(max_distance_px=-1)


def test_an_empty_movie_and_empty_frames_link_to_nothing() -> None:
    assert build_lineage(link([])).tracks == ()
    frames = [objects(0, [(10, 10)]), FrameObjects.empty(1), objects(2, [(11, 10)])]
    lineage = build_lineage(link(frames))
    assert [(t.first_frame, t.last_frame, t.missing_frames) for t in lineage.tracks] == [(0, 2, (1,))]


def test_a_division_whose_daughters_both_jump_beyond_the_frame_radius_is_found() -> None:
    # Daughters 25 px either side of the mother: beyond max_distance_px = 20, within the division radius.
    frames = [objects(t, [(50, 50)], [400]) for t in range(3)]
    frames += [objects(t, [(50, 25 - (t - 3)), (50, 75 + (t - 3))], [200, 210]) for t in range(3, 6)]
    params = TrackingParams(max_distance_px=20)
    tracks = build_lineage(link(frames, params)).tracks
    assert [(t.first_frame, t.last_frame, t.parent, t.daughters) for t in tracks] == [
        (0, 2, 0, (2, 3)),
        (3, 5, 1, ()),
        (3, 5, 1, ()),
    ]
    unrelated = frames[:3] + [objects(t, [(50, 25), (50, 75)], [200, 900]) for t in range(3, 6)]
    assert not any(t.daughters for t in build_lineage(link(unrelated, params)).tracks)  # sizes rule it out

"""Segmentation metrics on hand-made label images with known answers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cellkiosk.evaluation.segmentation import (
    IOU_THRESHOLDS,
    aggregate,
    count_merges_splits,
    iou_matrix,
    match,
    score_image,
)


def labels_from_boxes(shape: tuple[int, int], boxes: dict[int, tuple[int, int, int, int]]) -> np.ndarray:
    """Paint ``{label: (y0, y1, x0, x1)}`` boxes into a zero image."""
    image = np.zeros(shape, dtype=np.int32)
    for label, (y0, y1, x0, x1) in boxes.items():
        image[y0:y1, x0:x1] = label
    return image


def three_cells() -> np.ndarray:
    return labels_from_boxes((20, 20), {1: (0, 5, 0, 5), 2: (8, 12, 2, 9), 3: (14, 20, 10, 20)})


def shifted_pair() -> tuple[np.ndarray, np.ndarray]:
    """A 10x8 box and the same box moved 2 px right: overlap 60 px, union 100 px, IoU 0.6."""
    gt = labels_from_boxes((12, 12), {1: (0, 10, 0, 8)})
    pred = labels_from_boxes((12, 12), {1: (0, 10, 2, 10)})
    return gt, pred


def brute_force_iou(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    gt_ids, pred_ids = np.unique(gt[gt > 0]), np.unique(pred[pred > 0])
    iou = np.zeros((gt_ids.size, pred_ids.size))
    for i, g in enumerate(gt_ids):
        for j, p in enumerate(pred_ids):
            iou[i, j] = np.sum((gt == g) & (pred == p)) / np.sum((gt == g) | (pred == p))
    return iou


def random_labels(rng: np.random.Generator, ids: list[int]) -> np.ndarray:
    return rng.choice(np.array(ids), size=(24, 24))


def test_identical_labels_score_perfectly() -> None:
    gt = three_cells()
    scores = score_image(gt, gt.copy())
    assert scores.ap == (1.0,) * len(IOU_THRESHOLDS)
    assert scores.mean_ap == 1.0
    assert (scores.at_50.tp, scores.at_50.fp, scores.at_50.fn) == (3, 0, 0)
    assert scores.at_50.mean_matched_iou == 1.0
    assert (scores.merges, scores.splits) == (0, 0)


def test_empty_against_empty_is_perfect() -> None:
    empty = np.zeros((8, 8), dtype=np.uint16)
    assert iou_matrix(empty, empty).shape == (0, 0)
    result = match(empty, empty)
    assert (result.tp, result.fp, result.fn) == (0, 0, 0)
    assert (result.precision, result.recall, result.f1, result.ap) == (1.0, 1.0, 1.0, 1.0)
    assert score_image(empty, empty).mean_ap == 1.0


def test_all_missed_and_all_false() -> None:
    gt, empty = three_cells(), np.zeros((20, 20), dtype=np.int32)
    missed = match(gt, empty)
    assert (missed.tp, missed.fp, missed.fn, missed.n_true, missed.n_pred) == (0, 0, 3, 3, 0)
    assert (missed.ap, missed.precision, missed.recall, missed.f1) == (0.0, 0.0, 0.0, 0.0)
    false = match(empty, gt)
    assert (false.tp, false.fp, false.fn) == (0, 3, 0)
    assert false.ap == 0.0
    assert score_image(gt, empty).mean_ap == 0.0


def test_shifted_box_matches_up_to_its_iou() -> None:
    gt, pred = shifted_pair()
    assert iou_matrix(gt, pred).tolist() == [[0.6]]
    at_60, at_70 = match(gt, pred, 0.6), match(gt, pred, 0.7)
    assert (at_60.tp, at_60.fp, at_60.fn, at_60.mean_matched_iou) == (1, 0, 0, 0.6)
    assert (at_70.tp, at_70.fp, at_70.fn, at_70.ap) == (0, 1, 1, 0.0)
    scores = score_image(gt, pred)
    assert scores.thresholds == (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
    assert scores.ap == (1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    assert scores.mean_ap == pytest.approx(0.3)


def test_merge_of_two_cells_is_one_false_positive_and_two_misses() -> None:
    gt = labels_from_boxes((6, 12), {1: (0, 4, 0, 4), 2: (0, 4, 5, 9)})
    pred = labels_from_boxes((6, 12), {1: (0, 4, 0, 9)})  # IoU 16/36 with each cell
    assert count_merges_splits(gt, pred) == (1, 0)
    result = match(gt, pred)
    assert (result.tp, result.fp, result.fn, result.ap) == (0, 1, 2, 0.0)
    assert (score_image(gt, pred).merges, score_image(gt, pred).splits) == (1, 0)


def test_merge_that_is_exactly_the_union_still_matches_one_cell() -> None:
    gt = labels_from_boxes((6, 12), {1: (0, 4, 0, 4), 2: (0, 4, 4, 8)})
    pred = labels_from_boxes((6, 12), {1: (0, 4, 0, 8)})  # IoU exactly 0.5 with each cell
    result = match(gt, pred)
    assert (result.tp, result.fp, result.fn, result.ap) == (1, 0, 1, 0.5)
    assert count_merges_splits(gt, pred) == (1, 0)


def test_merge_needs_more_than_half_of_each_cell() -> None:
    gt = labels_from_boxes((6, 12), {1: (0, 4, 0, 4), 2: (0, 4, 6, 10)})
    exactly_half = labels_from_boxes((6, 12), {1: (0, 4, 2, 10)})
    three_quarters = labels_from_boxes((6, 12), {1: (0, 4, 1, 10)})
    assert count_merges_splits(gt, exactly_half) == (0, 0)
    assert count_merges_splits(gt, three_quarters) == (1, 0)


def test_split_cell() -> None:
    gt = labels_from_boxes((6, 10), {1: (0, 4, 0, 8)})
    pred = labels_from_boxes((6, 10), {1: (0, 4, 0, 4), 2: (0, 4, 4, 8)})  # IoU 0.5 each
    assert count_merges_splits(gt, pred) == (0, 1)
    result = match(gt, pred)
    assert (result.tp, result.fp, result.fn, result.ap) == (1, 1, 0, 0.5)


def test_low_threshold_maximises_the_number_of_matches() -> None:
    # IoU: cell 1 / pred 1 = 8/13, cell 1 / pred 2 = 2/10, cell 2 / pred 1 = 3/18. Maximising the
    # summed IoU would match only cell 1 to pred 1; two matches are possible at 0.15.
    gt = labels_from_boxes((3, 20), {1: (0, 3, 0, 10), 2: (0, 3, 10, 20)})
    pred = labels_from_boxes((3, 20), {1: (0, 3, 2, 13), 2: (0, 3, 0, 2)})
    result = match(gt, pred, 0.15)
    assert (result.tp, result.fp, result.fn) == (2, 0, 0)
    assert result.mean_matched_iou == pytest.approx((2 / 10 + 3 / 18) / 2)


def test_non_sequential_labels_give_the_same_scores() -> None:
    gt, pred = three_cells(), three_cells()
    pred[pred == 3] = 0
    pred[0:5, 5:8] = 4  # a false positive
    gt_sparse = np.select([gt == 1, gt == 2, gt == 3], [700, 9, 65000], 0).astype(np.uint16)
    pred_sparse = np.select([pred == 1, pred == 2, pred == 4], [5, 1000, 3], 0).astype(np.int64)
    dense, sparse = score_image(gt, pred), score_image(gt_sparse, pred_sparse)
    assert sparse == dense
    assert (dense.at_50.tp, dense.at_50.fp, dense.at_50.fn) == (2, 1, 1)
    # Rows and columns follow sorted label ids: gt 9, 700, 65000; pred 3, 5, 1000.
    assert np.array_equal(iou_matrix(gt_sparse, pred_sparse), brute_force_iou(gt_sparse, pred_sparse))
    assert iou_matrix(gt_sparse, pred_sparse)[1, 1] == 1.0


@pytest.mark.parametrize("seed", range(5))
def test_iou_matrix_equals_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    gt = random_labels(rng, [0, 0, 2, 3, 7, 11, 40])
    pred = random_labels(rng, [0, 1, 5, 6, 9, 300])
    iou = iou_matrix(gt, pred)
    np.testing.assert_allclose(iou, brute_force_iou(gt, pred), rtol=0, atol=1e-12)
    np.testing.assert_allclose(iou_matrix(pred, gt), iou.T, rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_matching_invariants_on_random_images(seed: int) -> None:
    rng = np.random.default_rng(seed)
    gt, pred = random_labels(rng, [0, 1, 2, 3, 4]), random_labels(rng, [0, 1, 2, 3])
    scores = score_image(gt, pred, thresholds=(0.05, 0.1, 0.15, 0.2, 0.3))
    for m in scores.matches:
        assert m.tp <= min(m.n_true, m.n_pred)
        assert (m.tp + m.fp, m.tp + m.fn) == (m.n_pred, m.n_true)
    assert list(scores.ap) == sorted(scores.ap, reverse=True)  # a stricter threshold never matches more


def test_aggregate_reports_image_mean_and_pooled_ap() -> None:
    perfect = score_image(three_cells()[:6, :6], three_cells()[:6, :6])  # 1 cell found, AP 1
    gt_missed = labels_from_boxes((10, 10), {1: (0, 2, 0, 2), 2: (4, 6, 4, 6), 3: (8, 10, 8, 10)})
    missed = score_image(gt_missed, np.zeros_like(gt_missed))  # 3 cells missed, AP 0
    shifted = score_image(*shifted_pair())  # AP 1 up to IoU 0.6, then tp 0, fp 1, fn 1
    report = aggregate([perfect, missed, shifted], groups=["fluo", "brightfield", "fluo"])
    overall = report["overall"]
    assert {k: overall[k] for k in ("n_images", "n_true", "n_pred", "tp", "fp", "fn")} == {
        "n_images": 3,
        "n_true": 5,
        "n_pred": 2,
        "tp": 2,
        "fp": 0,
        "fn": 3,
    }
    assert overall["ap50_image_mean"] == pytest.approx(2 / 3)
    assert overall["ap50_pooled"] == pytest.approx(2 / 5)
    assert overall["map_image_mean"] == pytest.approx((1 + 0 + 0.3) / 3)
    assert overall["map_pooled"] == pytest.approx((3 * 2 / 5 + 7 * 1 / 6) / 10)
    assert (overall["precision_pooled"], overall["recall_pooled"]) == (1.0, pytest.approx(0.4))
    fluo, brightfield = report["groups"]["fluo"], report["groups"]["brightfield"]
    assert (fluo["n_images"], fluo["ap50_image_mean"], fluo["ap50_pooled"]) == (2, 1.0, 1.0)
    assert fluo["map_image_mean"] == pytest.approx(0.65)
    assert fluo["map_pooled"] == pytest.approx((3 * 1.0 + 7 * 1 / 3) / 10)
    assert (brightfield["fn"], brightfield["ap50_pooled"], brightfield["map_image_mean"]) == (3, 0.0, 0.0)
    assert json.loads(json.dumps(report)) == report
    assert all(type(v) in (int, float) for v in overall.values())
    assert aggregate([perfect])["groups"] == {}


def test_bad_inputs_are_rejected() -> None:
    gt = three_cells()
    with pytest.raises(ValueError, match="shape"):
        iou_matrix(gt, gt[:10])
    with pytest.raises(ValueError, match="non-negative integer"):
        iou_matrix(gt, gt.astype(float))
    with pytest.raises(ValueError, match="non-negative integer"):
        iou_matrix(-gt, gt)
    with pytest.raises(ValueError, match="iou_threshold"):
        match(gt, gt, 0.0)
    with pytest.raises(ValueError, match="same IoU thresholds"):
        aggregate([score_image(gt, gt), score_image(gt, gt, thresholds=(0.5,))])
    with pytest.raises(ValueError, match="group names"):
        aggregate([score_image(gt, gt)], groups=["a", "b"])

"""Instance-segmentation scores: IoU matching, AP over thresholds, merges and splits.

Follows the StarDist / Cellpose convention: a predicted object is a true positive
when it is matched one-to-one to a ground-truth object with IoU >= threshold, and
average precision at a threshold is ``tp / (tp + fp + fn)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment
from skimage.segmentation import relabel_sequential

# Rounded so that an IoU of exactly 0.6 meets the 0.6 threshold (np.arange gives 0.6000000000000001).
IOU_THRESHOLDS: tuple[float, ...] = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))
_COUNTS = ("tp", "fp", "fn", "n_true", "n_pred")


@dataclass(frozen=True)
class MatchResult:
    """Counts of a one-to-one matching at one IoU threshold.

    Every ratio is 1.0 when there are no objects at all (nothing to find, nothing
    wrongly found) and 0.0 when only its denominator is empty.
    """

    iou_threshold: float
    tp: int
    fp: int
    fn: int
    n_true: int
    n_pred: int
    mean_matched_iou: float  # 0.0 when nothing matched

    def _ratio(self, num: int, den: int) -> float:
        if self.n_true == 0 and self.n_pred == 0:
            return 1.0
        return num / den if den else 0.0

    @property
    def precision(self) -> float:
        return self._ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        return self._ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float:
        return self._ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    @property
    def ap(self) -> float:
        return self._ratio(self.tp, self.tp + self.fp + self.fn)


@dataclass(frozen=True)
class ImageScores:
    """Scores of one image: a matching per threshold, one at IoU 0.5, merges and splits."""

    matches: tuple[MatchResult, ...]
    at_50: MatchResult
    merges: int
    splits: int

    @property
    def thresholds(self) -> tuple[float, ...]:
        return tuple(m.iou_threshold for m in self.matches)

    @property
    def ap(self) -> tuple[float, ...]:
        return tuple(m.ap for m in self.matches)

    @property
    def mean_ap(self) -> float:
        return float(np.mean(self.ap))


def _sequential(labels: np.ndarray, name: str) -> np.ndarray:
    """Flat int64 labels 1..N in the order of the original ids."""
    if labels.dtype.kind not in "biu" or (labels.size and labels.min() < 0):
        raise ValueError(f"{name} must hold non-negative integer labels, got {labels.dtype}")
    return relabel_sequential(labels.astype(np.int64, copy=False))[0].ravel().astype(np.int64, copy=False)


def _contingency(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Pixel counts of every (gt, pred) label pair, shape (G+1, P+1); row/column 0 is background."""
    if gt.shape != pred.shape:
        raise ValueError(f"label images differ in shape: {gt.shape} vs {pred.shape}")
    g, p = _sequential(gt, "gt"), _sequential(pred, "pred")
    n_g, n_p = int(g.max(initial=0)), int(p.max(initial=0))
    joint = np.bincount(g * (n_p + 1) + p, minlength=(n_g + 1) * (n_p + 1))
    return joint.reshape(n_g + 1, n_p + 1)


def _iou_from_contingency(joint: np.ndarray) -> np.ndarray:
    overlap = joint[1:, 1:]
    area_gt = joint[1:, :].sum(axis=1, keepdims=True)
    area_pred = joint[:, 1:].sum(axis=0, keepdims=True)
    # Every label has at least one pixel after relabelling, so the union is never 0.
    return overlap / (area_gt + area_pred - overlap)


def iou_matrix(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Intersection over union of every ground-truth object with every predicted object.

    Parameters
    ----------
    gt, pred : ndarray of non-negative int, same shape
        Label images; 0 is background. Labels need not be sequential.

    Returns
    -------
    ndarray of float64, shape (G, P)
        Row ``i`` is the ``i``-th smallest non-zero gt label, column ``j`` the
        ``j``-th smallest non-zero pred label.
    """
    return _iou_from_contingency(_contingency(gt, pred))


def matched_pairs(iou: np.ndarray, iou_threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one matching on an IoU matrix: the (true, predicted) indices of the matched pairs.

    Most pairs >= threshold, ties broken by total IoU.
    """
    if not 0.0 < iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
    valid = iou >= iou_threshold
    rows, cols = np.nonzero(valid.any(axis=1))[0], np.nonzero(valid.any(axis=0))[0]
    if not rows.size:
        return np.empty(0, np.intp), np.empty(0, np.intp)
    sub_iou, sub_valid = iou[np.ix_(rows, cols)], valid[np.ix_(rows, cols)]
    # The IoU term sums to < 1, so the count of valid pairs always dominates (StarDist's cost).
    gain = sub_valid + sub_valid * sub_iou / (2 * min(rows.size, cols.size))
    r, c = linear_sum_assignment(gain, maximize=True)
    keep = sub_valid[r, c]
    return rows[r[keep]], cols[c[keep]]


def _match_iou(iou: np.ndarray, iou_threshold: float) -> MatchResult:
    """Counts of the one-to-one matching of :func:`matched_pairs`."""
    n_true, n_pred = iou.shape
    true_idx, pred_idx = matched_pairs(iou, iou_threshold)
    matched = iou[true_idx, pred_idx]
    tp = int(matched.size)
    mean_iou = float(matched.mean()) if tp else 0.0
    return MatchResult(float(iou_threshold), tp, n_pred - tp, n_true - tp, n_true, n_pred, mean_iou)


def match(gt: np.ndarray, pred: np.ndarray, iou_threshold: float = 0.5) -> MatchResult:
    """Match predicted to ground-truth objects one-to-one at an IoU threshold.

    Parameters
    ----------
    gt, pred : ndarray of non-negative int, same shape
        Label images; 0 is background.
    iou_threshold : float
        A pair can match only when its IoU >= this, in (0, 1].

    Returns
    -------
    MatchResult
        The matching maximises the number of pairs, then their total IoU
        (``linear_sum_assignment``); for thresholds > 0.5 it is unique.
    """
    return _match_iou(iou_matrix(gt, pred), iou_threshold)


def _merges_splits_from_contingency(joint: np.ndarray, fraction: float) -> tuple[int, int]:
    overlap = joint[1:, 1:]
    gt_inside = overlap > fraction * joint[1:, :].sum(axis=1, keepdims=True)
    pred_inside = overlap > fraction * joint[:, 1:].sum(axis=0, keepdims=True)
    merges = int(np.count_nonzero(gt_inside.sum(axis=0) >= 2))
    splits = int(np.count_nonzero(pred_inside.sum(axis=1) >= 2))
    return merges, splits


def count_merges_splits(gt: np.ndarray, pred: np.ndarray, fraction: float = 0.5) -> tuple[int, int]:
    """Count predicted objects that merge cells and ground-truth cells that are split.

    A *merge* is a predicted object that holds more than ``fraction`` of the
    pixels of each of two or more ground-truth objects; a *split* is a
    ground-truth object that holds more than ``fraction`` of the pixels of each
    of two or more predicted objects. With the default of one half, an object
    can count towards at most one merge (or split), so nothing is counted twice.

    Parameters
    ----------
    gt, pred : ndarray of non-negative int, same shape
        Label images; 0 is background.
    fraction : float
        Share of an object's area that must lie inside the other object (strictly more).

    Returns
    -------
    (merges, splits) : tuple of int
        Number of merging predicted objects and of split ground-truth objects.
    """
    return _merges_splits_from_contingency(_contingency(gt, pred), fraction)


def score_image(gt: np.ndarray, pred: np.ndarray, thresholds: Sequence[float] = IOU_THRESHOLDS) -> ImageScores:
    """Score one predicted label image against its ground truth.

    Parameters
    ----------
    gt, pred : ndarray of non-negative int, same shape
        Label images; 0 is background.
    thresholds : sequence of float
        IoU thresholds for AP; the default is 0.50, 0.55, ..., 0.95.

    Returns
    -------
    ImageScores
        A matching per threshold (``ap``, ``mean_ap``), the matching at 0.5
        (``at_50``: precision, recall, F1) and merge/split counts.
    """
    if len(thresholds) == 0:
        raise ValueError("thresholds must not be empty")
    joint = _contingency(gt, pred)
    iou = _iou_from_contingency(joint)
    merges, splits = _merges_splits_from_contingency(joint, 0.5)
    return ImageScores(tuple(_match_iou(iou, t) for t in thresholds), _match_iou(iou, 0.5), merges, splits)


def _pool(matches: Sequence[MatchResult]) -> MatchResult:
    """Sum the counts of one threshold's matchings over images."""
    tp, fp, fn, n_true, n_pred = (sum(getattr(m, field) for m in matches) for field in _COUNTS)
    iou = sum(m.tp * m.mean_matched_iou for m in matches) / tp if tp else 0.0
    return MatchResult(matches[0].iou_threshold, tp, fp, fn, n_true, n_pred, iou)


def _summarise(scores: Sequence[ImageScores]) -> dict[str, float | int]:
    pooled = _pool([s.at_50 for s in scores])
    pooled_ap = [_pool(at_threshold).ap for at_threshold in zip(*(s.matches for s in scores), strict=True)]
    return {
        "n_images": len(scores),
        **{field: getattr(pooled, field) for field in _COUNTS},
        "merges": sum(s.merges for s in scores),
        "splits": sum(s.splits for s in scores),
        "ap50_image_mean": float(np.mean([s.at_50.ap for s in scores])),
        "ap50_pooled": pooled.ap,
        "map_image_mean": float(np.mean([s.mean_ap for s in scores])),
        "map_pooled": float(np.mean(pooled_ap)),
        "precision_pooled": pooled.precision,
        "recall_pooled": pooled.recall,
        "f1_pooled": pooled.f1,
        "mean_matched_iou": pooled.mean_matched_iou,
    }


def aggregate(scores: Sequence[ImageScores], groups: Sequence[str] | None = None) -> dict[str, dict]:
    """Summarise many images, overall and per group (e.g. modality).

    Parameters
    ----------
    scores : sequence of ImageScores
        One per image, all scored at the same thresholds.
    groups : sequence of str, optional
        Group name of each image, in the order of ``scores``.

    Returns
    -------
    dict
        ``{"overall": summary, "groups": {name: summary}}`` of plain ints and
        floats. ``*_image_mean`` averages per-image AP (the DSB convention);
        ``*_pooled`` sums tp, fp and fn over images first, so crowded images
        weigh more. ``map_*`` average AP over the thresholds; the rest is at IoU 0.5,
        ``mean_matched_iou`` over all matched pairs.
    """
    if not scores:
        raise ValueError("no images to aggregate")
    if len({s.thresholds for s in scores}) != 1:
        raise ValueError("all images must be scored at the same IoU thresholds")
    if groups is not None and len(groups) != len(scores):
        raise ValueError(f"{len(groups)} group names for {len(scores)} images")
    by_group: dict[str, list[ImageScores]] = {}
    for score, group in zip(scores, groups or [], strict=False):  # no groups: only "overall"
        by_group.setdefault(group, []).append(score)
    return {
        "overall": _summarise(scores),
        "groups": {name: _summarise(members) for name, members in sorted(by_group.items())},
    }

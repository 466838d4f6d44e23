"""What kind of error each unmatched object is: where a segmentation's AP is lost.

After one-to-one matching at IoU 0.5 (:func:`cellkiosk.evaluation.segmentation.match`), every
unmatched predicted object is a false positive and every unmatched true one a false negative. Their
kinds say whether the loss is the model's (pieces, merges) or lies where the ground truth has
nothing (``fp_no_truth``: a dim blob, debris, a nucleus the annotators left out) or only a sliver
cut by the image's edge (``fn_missed`` with ``_at_edge``).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from cellkiosk.evaluation.segmentation import iou_matrix, matched_pairs

NO_TRUTH = 0.2  # a prediction with less than this share of its pixels on true nuclei has no truth under it
ONE_NUCLEUS = 0.8  # a prediction with this share of its pixels inside one true nucleus is a piece of it
MISSED = 0.2  # a true nucleus with less than this share predicted as foreground is missed
MERGED = 0.5  # a true nucleus with this share inside one prediction that is not its match is merged into it


def _touches_edge(labels: np.ndarray) -> np.ndarray:
    """Per label id (index), whether it has a pixel on the image's border."""
    edge = np.zeros(int(labels.max()) + 1, dtype=bool)
    edge[np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])] = True
    return edge


def _shares(other: np.ndarray, own: np.ndarray, n_own: int) -> tuple[np.ndarray, np.ndarray]:
    """For every id of ``own`` (index 1..n_own): the share of its pixels on any ``other`` object, and the
    largest share on one ``other`` object."""
    on = own > 0
    ids, under = own[on].astype(np.int64), other[on].astype(np.int64)
    size = np.maximum(np.bincount(ids, minlength=n_own + 1), 1)
    covered, base = under > 0, int(under.max(initial=0)) + 1
    pairs, counts = np.unique(ids[covered] * base + under[covered], return_counts=True)  # (own, other) pixel counts
    best = np.zeros(n_own + 1, dtype=np.int64)
    np.maximum.at(best, pairs // base, counts)
    return np.bincount(ids[covered], minlength=n_own + 1) / size, best / size


def error_kinds(gt: np.ndarray, pred: np.ndarray, iou_threshold: float = 0.5) -> Counter[str]:
    """Counts of unmatched objects by kind, for sequential label images ``gt`` and ``pred`` (1..N).

    False positives: ``fp_no_truth``, ``fp_piece`` (most of it inside one true nucleus: a split or a
    fragment), ``fp_spans_nuclei`` (over several: a merge). False negatives: ``fn_missed``,
    ``fn_merged`` (most of it inside one larger prediction), ``fn_in_pieces``. Each kind also has an
    ``…_at_edge`` count of those touching the image border (included in the kind's count).
    """
    iou = iou_matrix(gt, pred)
    n_gt, n_pred = iou.shape
    true_idx, pred_idx = matched_pairs(iou, iou_threshold)  # the matching the scores count
    gt_matched, pred_matched = np.zeros(n_gt + 1, bool), np.zeros(n_pred + 1, bool)
    gt_matched[0] = pred_matched[0] = True
    gt_matched[true_idx + 1], pred_matched[pred_idx + 1] = True, True
    kinds: Counter[str] = Counter()
    on_truth, in_one = _shares(gt, pred, n_pred)
    pred_edge = _touches_edge(pred)
    for j in np.flatnonzero(~pred_matched).tolist():
        kind = (
            "fp_no_truth" if on_truth[j] < NO_TRUTH else "fp_piece" if in_one[j] >= ONE_NUCLEUS else "fp_spans_nuclei"
        )
        kinds[kind] += 1
        if pred_edge[j]:
            kinds[kind + "_at_edge"] += 1
    predicted, in_one_pred = _shares(pred, gt, n_gt)
    gt_edge = _touches_edge(gt)
    for i in np.flatnonzero(~gt_matched).tolist():
        kind = "fn_missed" if predicted[i] < MISSED else "fn_merged" if in_one_pred[i] >= MERGED else "fn_in_pieces"
        kinds[kind] += 1
        if gt_edge[i]:
            kinds[kind + "_at_edge"] += 1
    return kinds

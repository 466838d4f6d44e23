"""Error kinds: every unmatched object gets exactly one kind, and the kinds are the right ones."""

from __future__ import annotations

import numpy as np

from cellkiosk.evaluation.errors import error_kinds
from cellkiosk.evaluation.segmentation import match


def scene() -> tuple[np.ndarray, np.ndarray]:
    gt = np.zeros((60, 90), np.int32)
    pred = np.zeros_like(gt)
    gt[5:15, 5:15] = 1
    pred[5:15, 6:15] = 1  # matched (IoU 0.9)
    gt[5:17, 30:42] = 2
    pred[5:17, 30:34], pred[5:17, 34:38], pred[5:17, 38:42] = 2, 3, 4  # cut in three
    gt[30:40, 5:15], gt[30:40, 15:25] = 3, 4
    pred[30:40, 5:26] = 5  # two nuclei in one (IoU 100/210 with each: no match)
    pred[30:40, 40:50] = 6  # nothing true under it
    gt[30:40, 60:70] = 5  # not found
    gt[55:60, 80:90] = 6  # a sliver on the image's edge, not found
    return gt, pred


def test_each_unmatched_object_has_one_kind_and_the_kinds_add_up_to_fp_and_fn() -> None:
    gt, pred = scene()
    kinds = error_kinds(gt, pred)
    assert dict(kinds) == {
        "fp_piece": 3,
        "fp_spans_nuclei": 1,
        "fp_no_truth": 1,
        "fn_in_pieces": 1,
        "fn_merged": 2,
        "fn_missed": 2,
        "fn_missed_at_edge": 1,
    }
    result = match(gt, pred)
    assert sum(v for k, v in kinds.items() if k.startswith("fp_") and not k.endswith("_at_edge")) == result.fp
    assert sum(v for k, v in kinds.items() if k.startswith("fn_") and not k.endswith("_at_edge")) == result.fn


def test_a_perfect_and_an_empty_prediction() -> None:
    gt, _ = scene()
    assert error_kinds(gt, gt) == {}
    empty = error_kinds(gt, np.zeros_like(gt))
    assert empty["fn_missed"] == int(gt.max()) and empty["fn_missed_at_edge"] == 1
    assert error_kinds(np.zeros_like(gt), gt)["fp_no_truth"] == int(gt.max())

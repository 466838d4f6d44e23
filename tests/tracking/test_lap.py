"""The sparse, per-component LAP finds the same optimum as one dense augmented solve."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from cellkiosk.tracking.lap import augmented_cost, solve_sparse_lap

Problem = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def total_cost(
    rows: np.ndarray,
    cols: np.ndarray,
    costs: np.ndarray,
    r: np.ndarray,
    c: np.ndarray,
    row_nolink: np.ndarray,
    col_nolink: np.ndarray,
) -> float:
    """Chosen link costs plus the no-link costs of everything left unlinked."""
    lookup = {(int(i), int(j)): float(v) for i, j, v in zip(rows, cols, costs, strict=True)}
    linked = sum(lookup[(int(i), int(j))] for i, j in zip(r, c, strict=True))
    return linked + row_nolink.sum() - row_nolink[r].sum() + col_nolink.sum() - col_nolink[c].sum()


def random_problem(seed: int, n: int = 40, m: int = 45, density: float = 0.08) -> Problem:
    rng = np.random.default_rng(seed)
    mask = rng.random((n, m)) < density
    rows, cols = np.nonzero(mask)
    return rows, cols, rng.random(rows.size) * 3, rng.uniform(0.5, 1.5, n), rng.uniform(0.5, 1.5, m)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("dense_limit", [None, 0])
def test_components_give_the_global_optimum(seed: int, dense_limit: int | None) -> None:
    rows, cols, costs, death, birth = random_problem(seed)
    kwargs = {} if dense_limit is None else {"dense_limit": dense_limit}  # 0: every component sparse (LAPJVsp)
    r, c = solve_sparse_lap(rows, cols, costs, death, birth, **kwargs)
    block = np.full((death.size, birth.size), np.inf)
    block[rows, cols] = costs
    gr, gc = linear_sum_assignment(augmented_cost(block, death, birth))
    keep = (gr < death.size) & (gc < birth.size)
    expected = total_cost(rows, cols, costs, gr[keep], gc[keep], death, birth)
    assert total_cost(rows, cols, costs, r, c, death, birth) == pytest.approx(expected)
    assert len(set(r.tolist())) == r.size and len(set(c.tolist())) == c.size  # one-to-one
    assert set(zip(r.tolist(), c.tolist(), strict=True)) <= set(zip(rows.tolist(), cols.tolist(), strict=True))


def test_a_link_dearer_than_both_no_links_is_refused() -> None:
    r, c = solve_sparse_lap([0, 1], [0, 1], [0.5, 3.0], np.ones(2), np.ones(2))
    assert r.tolist() == [0] and c.tolist() == [0]


def test_competition_is_resolved_globally() -> None:
    # Row 0 prefers column 0, but giving it to row 1 (its only option) is cheaper overall.
    r, c = solve_sparse_lap([0, 0, 1], [0, 1, 0], [0.1, 0.3, 0.2], np.ones(2), np.ones(2))
    assert dict(zip(r.tolist(), c.tolist(), strict=True)) == {0: 1, 1: 0}


def test_no_candidates_links_nothing() -> None:
    r, c = solve_sparse_lap([], [], [], np.ones(3), np.ones(2))
    assert r.size == 0 and c.size == 0


def test_augmented_matrix_has_jaqamans_blocks() -> None:
    cost = np.array([[0.1, np.inf, 0.3], [np.inf, 0.2, np.inf]])
    out = augmented_cost(cost, np.array([1.0, 2.0]), np.array([3.0, 4.0, 5.0]))
    inf = np.inf
    np.testing.assert_array_equal(
        out,
        [
            [0.1, inf, 0.3, 1.0, inf],
            [inf, 0.2, inf, inf, 2.0],
            [3.0, inf, inf, 0.0, inf],
            [inf, 4.0, inf, inf, 0.0],
            [inf, inf, 5.0, 0.0, inf],
        ],
    )

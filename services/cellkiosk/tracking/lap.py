"""Sparse linear assignment with no-link costs (Jaqaman et al. 2008), solved per connected component.

A tracking LAP links rows (objects that may continue) to columns (objects that may be continued).
Any row or column may stay unlinked at its own no-link cost (death, birth). Jaqaman's augmented
matrix turns this into a square assignment problem::

    | C        D_diag |     C: link costs (inf outside the candidate pairs)
    | B_diag   C'     |     D, B: no-link costs on the diagonals (inf elsewhere)
                            C': the transposed candidate pattern, cost 0

Candidates exist only within a search radius, so the candidate graph falls apart into many small
connected components. Each component is an independent problem: solving them separately gives the
same optimum as one global solve, at a cost that grows with the number of objects, not its cube.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, min_weight_full_bipartite_matching

# Above this many objects a component is solved as a sparse problem (LAPJVsp) instead of a dense one.
DENSE_LIMIT = 600


def augmented_cost(cost: np.ndarray, row_nolink: np.ndarray, col_nolink: np.ndarray) -> np.ndarray:
    """Jaqaman's square augmented cost matrix for a dense block of link costs.

    Parameters
    ----------
    cost : ndarray, shape (n, m)
        Link costs; ``inf`` where a pair is not a candidate.
    row_nolink, col_nolink : ndarray, shapes (n,) and (m,)
        Cost of leaving each row (death) and each column (birth) unlinked.

    Returns
    -------
    ndarray, shape (n + m, m + n)
        Assigning row ``i < n`` to column ``j < m`` links them; to column ``m + i`` leaves it unlinked.
    """
    n, m = cost.shape
    size = n + m
    out = np.full((size, size), np.inf)
    out[:n, :m] = cost
    # Diagonals of the two no-link blocks through the flat view (cheapest for the many tiny blocks).
    flat = out.reshape(-1)
    flat[m : n * size : size + 1] = row_nolink  # (i, m + i)
    flat[n * size :: size + 1] = col_nolink  # (n + j, j)
    # A link (i, j) frees the dummies of both; pairing them costs nothing, so the optimum is unbiased.
    out[n:, m:] = np.where(np.isfinite(cost.T), 0.0, np.inf)
    return out


def _solve_block(
    ri: np.ndarray,
    ci: np.ndarray,
    costs: np.ndarray,
    row_nolink: np.ndarray,
    col_nolink: np.ndarray,
    dense_limit: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Solve one component given by local indices; returns the linked local (row, col) pairs."""
    n, m = row_nolink.size, col_nolink.size
    if n + m > dense_limit:
        r, c = _solve_sparse(ri, ci, costs, row_nolink, col_nolink)
    else:
        block = np.full((n, m), np.inf)
        block[ri, ci] = costs
        r, c = linear_sum_assignment(augmented_cost(block, row_nolink, col_nolink))
    linked = (r < n) & (c < m)
    return r[linked], c[linked]


def _local_ids(ids: np.ndarray, component: np.ndarray, n_ids: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Number the distinct ids of each component 0, 1, ... in one vectorized pass.

    ``component`` must be sorted. Returns the distinct ids (grouped by component, in order), the
    local index of every entry, and where each component's group of distinct ids starts.
    """
    distinct, inverse = np.unique(component * n_ids + ids, return_inverse=True)
    group = distinct // n_ids
    starts = np.flatnonzero(np.diff(group, prepend=-1))
    first = np.repeat(starts, np.diff(np.append(starts, distinct.size)))
    return distinct % n_ids, (np.arange(distinct.size) - first)[inverse], starts


def _solve_sparse(
    ri: np.ndarray, ci: np.ndarray, costs: np.ndarray, row_nolink: np.ndarray, col_nolink: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The augmented problem of one large component as a sparse matrix, solved by LAPJVsp."""
    n, m = row_nolink.size, col_nolink.size
    i, j = np.arange(n), np.arange(m)
    r = np.concatenate([ri, i, n + j, n + ci])
    c = np.concatenate([ci, m + i, j, m + ri])
    w = np.concatenate([costs, row_nolink, col_nolink, np.zeros(ci.size)])
    # Every full matching has n + m entries, so a constant shift keeps the optimum and avoids zero weights.
    shift = 1.0 - min(0.0, float(w.min()))
    return min_weight_full_bipartite_matching(coo_matrix((w + shift, (r, c)), shape=(n + m, m + n)).tocsr())


def solve_sparse_lap(
    rows: ArrayLike,
    cols: ArrayLike,
    costs: ArrayLike,
    row_nolink: ArrayLike,
    col_nolink: ArrayLike,
    dense_limit: int = DENSE_LIMIT,
) -> tuple[np.ndarray, np.ndarray]:
    """Optimal one-to-one links among candidate pairs, each object free to stay unlinked.

    Minimises the sum of chosen link costs plus the no-link costs of every row and column left
    unlinked. Pairs not listed are never linked.

    Parameters
    ----------
    rows, cols : ndarray of int, shape (k,)
        Candidate pairs (indices into ``row_nolink`` and ``col_nolink``); each pair at most once.
    costs : ndarray of float, shape (k,)
        Finite cost of each candidate link.
    row_nolink, col_nolink : ndarray of float
        No-link cost of every row and every column.
    dense_limit : int
        Components with more objects than this are solved sparse (LAPJVsp), smaller ones dense.

    Returns
    -------
    linked_rows, linked_cols : ndarray of int
        The chosen links, sorted by row.
    """
    rows, cols = np.asarray(rows, np.intp), np.asarray(cols, np.intp)
    costs = np.asarray(costs, np.float64)
    row_nolink, col_nolink = np.asarray(row_nolink, np.float64), np.asarray(col_nolink, np.float64)
    return _solve(rows, cols, costs, row_nolink, col_nolink, dense_limit)


def _solve(
    rows: np.ndarray,
    cols: np.ndarray,
    costs: np.ndarray,
    row_nolink: np.ndarray,
    col_nolink: np.ndarray,
    dense_limit: int,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`solve_sparse_lap` on arrays of the right dtypes."""
    if rows.size == 0:
        return np.zeros(0, np.intp), np.zeros(0, np.intp)
    n_rows = row_nolink.size
    graph = coo_matrix((np.ones(rows.size), (rows, n_rows + cols)), shape=(n_rows + col_nolink.size,) * 2)
    _, component = connected_components(graph, directed=False)
    edge_component = component[rows]
    edges_per_component = np.bincount(edge_component)
    # One candidate pair alone: link it when that is cheaper than leaving both ends unlinked.
    single = edges_per_component[edge_component] == 1
    take = single & (costs < row_nolink[rows] + col_nolink[cols])
    out_rows, out_cols = [rows[take]], [cols[take]]
    many = np.flatnonzero(~single)
    order = many[np.argsort(edge_component[many], kind="stable")]
    comp = edge_component[order].astype(np.int64)
    row_ids, local_rows, row_starts = _local_ids(rows[order], comp, n_rows)
    col_ids, local_cols, col_starts = _local_ids(cols[order], comp, col_nolink.size)
    edge_bounds = np.append(np.flatnonzero(np.diff(comp, prepend=-1)), comp.size).tolist()
    row_bounds = np.append(row_starts, row_ids.size).tolist()
    col_bounds = np.append(col_starts, col_ids.size).tolist()
    for k in range(len(edge_bounds) - 1):
        edges = order[edge_bounds[k] : edge_bounds[k + 1]]
        local = slice(edge_bounds[k], edge_bounds[k + 1])
        ids_r, ids_c = row_ids[row_bounds[k] : row_bounds[k + 1]], col_ids[col_bounds[k] : col_bounds[k + 1]]
        r, c = _solve_block(
            local_rows[local], local_cols[local], costs[edges], row_nolink[ids_r], col_nolink[ids_c], dense_limit
        )
        out_rows.append(ids_r[r])
        out_cols.append(ids_c[c])
    linked_rows, linked_cols = np.concatenate(out_rows), np.concatenate(out_cols)
    sort = np.argsort(linked_rows, kind="stable")
    return linked_rows[sort], linked_cols[sort]

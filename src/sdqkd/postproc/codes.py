"""Random LDPC parity-check matrices with a designed degree distribution, for syndrome reconciliation.

Both ends of a link build the same matrix from ``(n, rate, seed)``: the degree distribution comes from
:func:`sdqkd.postproc.density.design_distribution` (GA density evolution, close to the BIAWGN limit),
and the graph is a random member of that ensemble (T. Richardson, M. A. Shokrollahi, R. Urbanke,
"Design of capacity-approaching irregular low-density parity-check codes", IEEE Trans. IT 47(2), 2001):

1. Edge fractions (λ, ρ) become exact node counts (:func:`node_degree_counts`): variable counts by
   largest remainder; the check degrees then follow from the number of edges, on two consecutive
   degrees d, d+1 — so the sockets on both sides are equal in number by construction.
2. The degree-2 variable nodes are laid on a path through distinct, randomly ordered check nodes
   (node k joins checks π(k) and π(k+1)), the zigzag of IRA / accumulate codes: they form no cycle
   among themselves, so no error pattern confined to them is undetectable, the weak spot of a random
   matching of degree-2 nodes (the low-weight codewords behind error floors). That needs fewer
   degree-2 nodes than checks, which the design guarantees (and a short block gets, by moving the
   excess to degree 3).
3. The other variable sockets are matched to the remaining check sockets by a seeded random
   permutation; repeated edges (a variable meeting one check twice) are removed by swapping the check
   ends of such edges with random other edges until none is left.

All of it is vectorised numpy: n = 2^18 (≈ 10^6 edges) builds in about a second.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from sdqkd.errors import ConfigError
from sdqkd.postproc.density import DEFAULT_MAX_VARIABLE_DEGREE, design_distribution

__all__ = ["MAX_BLOCK_LENGTH", "MIN_BLOCK_LENGTH", "node_degree_counts", "parity_check_matrix"]

MIN_BLOCK_LENGTH = 64
"""The shortest block (variable nodes) :func:`parity_check_matrix` builds."""

MAX_BLOCK_LENGTH = 1 << 22
"""The longest block (variable nodes) :func:`parity_check_matrix` builds."""

_MAX_SWAP_ROUNDS = 200

IntArray = npt.NDArray[np.int64]


def _check_arguments(n: int, rate: float, seed: int | None = None) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or not (MIN_BLOCK_LENGTH <= n <= MAX_BLOCK_LENGTH):
        raise ConfigError(f"the block length must be an integer in [{MIN_BLOCK_LENGTH}, {MAX_BLOCK_LENGTH}]")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ConfigError(f"the seed must be a non-negative integer, not {seed!r}")
    if not (0.0 < rate < 1.0):
        raise ConfigError(f"the rate must lie in (0, 1), not {rate}")


def _largest_remainder(weights: npt.NDArray[np.float64], total: int) -> IntArray:
    """Integers proportional to ``weights`` that sum to ``total`` (Hamilton's method)."""
    exact = weights / weights.sum() * total
    counts = np.floor(exact).astype(np.int64)
    short = total - int(counts.sum())
    counts[np.argsort(-(exact - counts), kind="stable")[:short]] += 1
    result: IntArray = counts
    return result


def node_degree_counts(
    n: int, rate: float, *, max_variable_degree: int = DEFAULT_MAX_VARIABLE_DEGREE
) -> tuple[dict[int, int], dict[int, int]]:
    """How many variable and check nodes of each degree :func:`parity_check_matrix` gives a block.

    Node fractions are ``Λᵢ = (λᵢ/i) / Σₖ λₖ/k`` (edge to node perspective); ``n·Λᵢ`` is rounded by
    largest remainder so the counts sum to n. Degree-2 nodes beyond ``m − 1`` (possible only for short
    blocks) become degree 3. With E edges and ``m = round((1 − rate)·n)`` checks, ``E − d·m`` checks get
    degree d + 1 and the rest degree d, ``d = ⌊E/m⌋``.

    Args:
        n: block length (variable nodes).
        rate: code rate; the matrix has ``round((1 − rate)·n)`` rows.
        max_variable_degree: passed to :func:`~sdqkd.postproc.density.design_distribution`.

    Returns:
        ``({variable degree: count}, {check degree: count})``, zero counts left out.
    """
    _check_arguments(n, rate)
    dist = design_distribution(rate, max_variable_degree)
    checks = round((1.0 - rate) * n)
    degrees = np.asarray(dist.variable_degrees, dtype=np.int64)
    counts = _largest_remainder(np.asarray(dist.variable_fractions) / degrees, n)
    variable = {int(d): int(c) for d, c in zip(degrees, counts, strict=True) if c > 0}
    if variable.get(2, 0) > checks - 1:
        variable[3] = variable.get(3, 0) + variable[2] - (checks - 1)
        variable[2] = checks - 1
    if max(variable) > checks:
        raise ConfigError(f"a block of {n} bits at rate {rate} has too few checks for degree {max(variable)}")
    edges = sum(d * c for d, c in variable.items())
    low = edges // checks
    check = {low: checks - (edges - low * checks), low + 1: edges - low * checks}
    return (
        {d: c for d, c in sorted(variable.items()) if c > 0},
        {d: c for d, c in sorted(check.items()) if c > 0},
    )


def _remove_repeated_edges(columns: IntArray, rows: IntArray, checks: int, rng: np.random.Generator) -> None:
    """Swap check ends (in place) until no (column, row) pair occurs twice; the degrees are unchanged.

    Each round, every repeated edge (all but the first of a pair) swaps its row with a random edge that
    is not itself repeated and not chosen twice, so the swaps are disjoint transpositions. Repeats are
    few (a few hundred in 10^6 edges) and a swap rarely makes a new one, so a few rounds suffice.
    """
    for _ in range(_MAX_SWAP_ROUNDS):
        keys = columns * checks + rows
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        repeated = order[1:][sorted_keys[1:] == sorted_keys[:-1]]
        if repeated.size == 0:
            return
        partners = rng.integers(0, rows.size, repeated.size)
        usable = ~np.isin(partners, repeated)
        _, first = np.unique(partners, return_index=True)
        once = np.zeros(partners.size, dtype=np.bool_)
        once[first] = True
        pick = usable & once
        mine, theirs = repeated[pick], partners[pick]
        rows[mine], rows[theirs] = rows[theirs], rows[mine]
    raise ArithmeticError("repeated edges left after the swap rounds: the block is too short")


def parity_check_matrix(
    n: int, rate: float, seed: int, *, max_variable_degree: int = DEFAULT_MAX_VARIABLE_DEGREE
) -> sp.csr_matrix:
    """A random LDPC parity-check matrix H (uint8, ``round((1 − rate)·n) × n``) from the designed ensemble.

    Deterministic for ``(n, rate, seed, max_variable_degree)`` — both parties build the same H. The last
    few are cached (read-only); each call returns its own copy, since decoders such as ``ldpc`` tidy
    the matrix in place. See the module docstring for the construction.

    Args:
        n: block length (variable nodes, the bits reconciled per frame), 64..2^22.
        rate: code rate in [0.05, 0.95] (rounded to 4 decimals for the design).
        seed: the shared seed of the graph, a non-negative integer.
        max_variable_degree: the largest variable-node degree of the design.
    """
    _check_arguments(n, rate, seed)
    matrix: sp.csr_matrix = _build(n, rate, seed, max_variable_degree).copy()
    return matrix


@functools.lru_cache(maxsize=4)
def _build(n: int, rate: float, seed: int, max_variable_degree: int) -> sp.csr_matrix:
    variable, check = node_degree_counts(n, rate, max_variable_degree=max_variable_degree)
    checks = sum(check.values())
    rng = np.random.default_rng(seed)
    column_degree = np.repeat(np.array(list(variable), dtype=np.int64), list(variable.values()))
    column_degree = column_degree[rng.permutation(n)]
    row_degree = np.repeat(np.array(list(check), dtype=np.int64), list(check.values()))
    row_degree = row_degree[rng.permutation(checks)]

    # Degree-2 columns: a path through distinct checks (a tree, so no cycle among them).
    pairs = np.flatnonzero(column_degree == 2)
    path = rng.permutation(checks)[: pairs.size + 1]
    path_rows = np.stack([path[:-1], path[1:]], axis=1).ravel() if pairs.size else path[:0]
    path_columns = np.repeat(pairs, 2)

    # Other columns: their sockets matched at random to the check sockets the path left free.
    free = row_degree - np.bincount(path_rows, minlength=checks)
    others = np.flatnonzero(column_degree > 2)
    columns = np.repeat(others, column_degree[others])
    rows = rng.permutation(np.repeat(np.arange(checks, dtype=np.int64), free))
    if rows.size != columns.size:  # node_degree_counts makes the socket counts equal
        raise ArithmeticError("variable and check sockets differ in number")
    _remove_repeated_edges(columns, rows, checks, rng)

    all_rows = np.concatenate([path_rows, rows])
    all_columns = np.concatenate([path_columns, columns])
    matrix = sp.csr_matrix(
        (np.ones(all_rows.size, dtype=np.uint8), (all_rows, all_columns)), shape=(checks, n), dtype=np.uint8
    )
    matrix.sort_indices()
    if matrix.nnz != all_rows.size or math.prod(matrix.shape) == 0:
        raise ArithmeticError("repeated edges in the parity-check matrix")
    for array in (matrix.data, matrix.indices, matrix.indptr):
        array.flags.writeable = False
    return matrix

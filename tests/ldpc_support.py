"""Small LDPC codes for the reconciliation tests, built here so the tests do not depend on the
project's code design."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def regular_code(n: int, column_weight: int, row_weight: int, seed: int = 1) -> sp.csr_matrix:
    """A random (column_weight, row_weight)-regular parity-check matrix, repeated edges dropped."""
    rng = np.random.default_rng(seed)
    checks = n * column_weight // row_weight
    columns = np.repeat(np.arange(n), column_weight)
    rows = np.resize(np.arange(checks), columns.size)
    rng.shuffle(rows)
    matrix = sp.coo_matrix(
        (np.ones(columns.size, dtype=np.uint8), (rows, columns)), shape=(checks, n)
    ).tocsr()
    matrix.data[:] = 1
    return matrix

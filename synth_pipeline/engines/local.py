"""The single-machine engine: encode with `Domain.encode`, count with numpy. The reference the others must equal."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import pandas as pd

from synth_pipeline.domain import Domain


def clique_counts(codes: np.ndarray, clique: Sequence[int], sizes: Sequence[int]) -> np.ndarray:
    """Counts of one clique's cells, C order over its columns' codes, as float64 (the noise is added to them)."""
    dims = [sizes[a] for a in clique]
    flat = np.ravel_multi_index(tuple(codes[:, list(clique)].T), dims)
    return np.bincount(flat, minlength=int(np.prod(dims))).astype(np.float64)


class LocalEngine:
    name: ClassVar[str] = "local"

    def marginals(self, table: pd.DataFrame, domain: Domain,
                  cliques: Sequence[tuple[int, ...]]) -> dict[tuple[int, ...], np.ndarray]:
        codes = domain.encode(table)
        return {clique: clique_counts(codes, clique, domain.sizes) for clique in cliques}

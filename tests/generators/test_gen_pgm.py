"""The graphical model: exact marginals against brute force, sampling, fitting, growing the tree."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from synth_pipeline.generators import pgm

SIZES = (2, 3, 2, 4, 3)
CLIQUES = [(0, 1), (1, 2), (2, 3), (1, 3), (3, 4), (0,)]


def random_model(seed: int = 0) -> pgm.GraphicalModel:
    tree = pgm.build_junction_tree(CLIQUES, SIZES)
    generator = torch.Generator().manual_seed(seed)
    potentials = [torch.randn([SIZES[a] for a in c], generator=generator, dtype=torch.float64) for c in tree.cliques]
    return pgm.GraphicalModel(tree, SIZES, potentials)


def joint(model: pgm.GraphicalModel) -> torch.Tensor:
    everything = tuple(range(len(SIZES)))
    total = sum(pgm._expand(p, c, everything, SIZES) for c, p in zip(model.tree.cliques, model.potentials))
    return (total - torch.logsumexp(total.reshape(-1), 0)).exp()


def test_junction_tree_covers_every_measured_clique():
    tree = pgm.build_junction_tree(CLIQUES, SIZES)
    assert all(tree.home(c) >= 0 for c in CLIQUES)
    assert tree.parent[0] == -1 and sorted(tree.order) == list(range(len(tree.cliques)))
    for child in tree.order[1:]:  # running intersection: a separator lies in both cliques
        assert set(tree.separators[child]) <= set(tree.cliques[child]) & set(tree.cliques[tree.parent[child]])


def test_marginals_are_exact():
    model = random_model()
    truth = joint(model)
    beliefs = model.beliefs()
    for clique in [*model.tree.cliques, (0, 4), (0, 2, 4), (1, 4), (4,)]:  # in a clique, and across cliques
        hidden = [a for a in range(len(SIZES)) if a not in clique]
        assert torch.allclose(model.marginal(clique, beliefs), truth.sum(hidden), atol=1e-12)


def test_samples_follow_the_model():
    model = random_model(1)
    codes = model.sample(100_000, np.random.default_rng(0))
    frequencies = np.bincount(np.ravel_multi_index(tuple(codes.T), SIZES), minlength=int(np.prod(SIZES))) / len(codes)
    assert np.abs(frequencies - joint(model).reshape(-1).numpy()).max() < 0.006
    assert (model.sample(50, np.random.default_rng(3)) == model.sample(50, np.random.default_rng(3))).all()


def test_fitting_recovers_consistent_measurements():
    truth = random_model(2)
    beliefs = truth.beliefs()
    measurements = [pgm.Measurement(c, 1000 * truth.marginal(c, beliefs).reshape(-1), 1.0) for c in CLIQUES]
    start = pgm.GraphicalModel(pgm.build_junction_tree(CLIQUES, SIZES), SIZES)
    fitted, loss = pgm.fit(start, measurements, total=1000.0, sweeps=20, iterations=50)
    assert loss < 1e-3
    for clique in CLIQUES:
        assert torch.allclose(fitted.marginal(clique), truth.marginal(clique), atol=1e-4)


def test_a_warm_start_survives_growing_the_tree():
    small = random_model(3)
    bigger = pgm.build_junction_tree(list(small.tree.cliques) + [(0, 4)], SIZES)
    moved = pgm.reshape_onto(small, bigger)
    for clique in itertools.combinations(range(len(SIZES)), 2):
        assert torch.allclose(moved.marginal(clique), small.marginal(clique), atol=1e-12)


def test_an_uncovered_measurement_is_refused():
    model = pgm.GraphicalModel(pgm.build_junction_tree([(0,), (1,)], (2, 2)), (2, 2))
    with pytest.raises(ValueError, match="not covered"):
        pgm.fit(model, [pgm.Measurement((0, 1), torch.ones(4), 1.0)], total=4.0, sweeps=1, iterations=1)

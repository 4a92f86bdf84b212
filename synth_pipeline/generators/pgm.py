"""A graphical model fitted to noisy marginals (Private-PGM, McKenna, Sheldon & Miklau 2019), in PyTorch.

The model is the exponential family p(x) proportional to exp(sum over cliques C of theta_C(x_C)) on the cliques of a
junction tree built from the measured marginals. Belief propagation gives its clique marginals exactly; the
potentials are fitted to the noisy measurements y_r by weighted least squares on the model's marginal counts.
Among distributions that fit the measurements equally well this family is the maximum-entropy one, which is why it
generalises from a few low-order marginals. Everything here is post-processing of DP measurements: no data.

Attributes are integers 0..d-1 with domain sizes `sizes`; a clique is a sorted tuple of attributes and its table
has one axis per attribute in that order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

Clique = tuple[int, ...]


def cells(clique: Clique, sizes: Sequence[int]) -> int:
    return math.prod(sizes[a] for a in clique)


def _expand(table: torch.Tensor, attrs: Clique, target: Clique, sizes: Sequence[int]) -> torch.Tensor:
    """A table over `attrs` (a subset of `target`, both sorted) viewed with broadcast axes over `target`."""
    return table.reshape([sizes[a] if a in attrs else 1 for a in target])


def _sum_onto(table: torch.Tensor, attrs: Clique, keep: Clique) -> torch.Tensor:
    dims = [i for i, a in enumerate(attrs) if a not in keep]
    return table.sum(dim=dims) if dims else table


@dataclass(frozen=True)
class JunctionTree:
    """Maximal cliques of a triangulation of the measured cliques' graph, joined into a tree (root 0)."""

    cliques: tuple[Clique, ...]
    parent: tuple[int, ...]  # parent[0] == -1
    order: tuple[int, ...]  # breadth first from the root: parents before children
    separators: tuple[Clique, ...]  # with the parent; () for the root
    children: tuple[tuple[int, ...], ...]

    def size(self, sizes: Sequence[int]) -> int:
        return sum(cells(c, sizes) for c in self.cliques)

    def home(self, clique: Clique) -> int:
        """The smallest junction clique holding every attribute of `clique`, or -1."""
        holders = [i for i, c in enumerate(self.cliques) if set(clique) <= set(c)]
        return min(holders, key=lambda i: len(self.cliques[i])) if holders else -1


def build_junction_tree(measured: Sequence[Clique], sizes: Sequence[int]) -> JunctionTree:
    """Triangulate by greedy elimination (each step removes the attribute whose elimination clique is smallest),
    keep the maximal elimination cliques, and join them by a maximum-weight spanning tree on separator sizes (a
    valid junction tree for a chordal graph)."""
    neighbours = {a: set() for a in range(len(sizes))}
    for clique in measured:
        for a in clique:
            neighbours[a] |= set(clique) - {a}
    remaining, found = set(neighbours), []
    while remaining:
        chosen = min(sorted(remaining), key=lambda a: cells(tuple(neighbours[a] & remaining | {a}), sizes))
        clique = tuple(sorted(neighbours[chosen] & remaining | {chosen}))
        for a in clique:
            neighbours[a] |= set(clique) - {a}
        found.append(clique)
        remaining.discard(chosen)
    maximal = []
    for clique in sorted(set(found), key=lambda c: (-len(c), c)):
        if not any(set(clique) <= set(other) for other in maximal):
            maximal.append(clique)
    # Kruskal on separator size (ties by clique index); empty separators join disconnected parts.
    edges = sorted((-len(set(a) & set(b)), i, j) for i, a in enumerate(maximal) for j, b in enumerate(maximal) if i < j)
    component = list(range(len(maximal)))

    def find(i: int) -> int:
        while component[i] != i:
            component[i] = component[component[i]]
            i = component[i]
        return i

    adjacency = {i: [] for i in range(len(maximal))}
    for _, i, j in edges:
        if find(i) != find(j):
            component[find(i)] = find(j)
            adjacency[i].append(j)
            adjacency[j].append(i)
    parent, order = [-1] * len(maximal), [0]
    for node in order:  # grows while iterating: a breadth-first walk
        for nxt in sorted(adjacency[node]):
            if nxt not in order:
                parent[nxt] = node
                order.append(nxt)
    separators = tuple(() if parent[i] < 0 else tuple(sorted(set(maximal[i]) & set(maximal[parent[i]])))
                       for i in range(len(maximal)))
    children = tuple(tuple(c for c in order if parent[c] == i) for i in range(len(maximal)))
    return JunctionTree(tuple(maximal), tuple(parent), tuple(order), separators, children)


@dataclass(frozen=True)
class Measurement:
    """A noisy marginal: counts `y` (flattened over `clique`) measured with Gaussian noise of scale `sigma`."""

    clique: Clique
    y: torch.Tensor
    sigma: float


class GraphicalModel:
    """Log-potentials on a junction tree; `beliefs()` are its exact clique marginals (probability tables)."""

    def __init__(self, tree: JunctionTree, sizes: Sequence[int], potentials: list[torch.Tensor] | None = None):
        self.tree, self.sizes = tree, tuple(sizes)
        self.potentials = potentials if potentials is not None else [
            torch.zeros([sizes[a] for a in c], dtype=torch.float64) for c in tree.cliques]

    def beliefs(self, potentials: list[torch.Tensor] | None = None) -> list[torch.Tensor]:
        """Two-pass sum-product on the junction tree, in probability space with every potential scaled by its
        maximum and every message normalised (so nothing overflows; the scale factors cancel). The downward pass
        forms each child's "everything but you" product from prefix and suffix products of its siblings' messages:
        3k multiplications for k children instead of k^2, with no division (a message may hold exact zeros)."""
        tree, sizes = self.tree, self.sizes
        factors = [(p - p.max()).exp() for p in (self.potentials if potentials is None else potentials)]
        upward = {}
        for node in reversed(tree.order[1:]):
            total = factors[node]
            for child in tree.children[node]:
                total = total * _expand(upward[child], tree.separators[child], tree.cliques[node], sizes)
            message = _sum_onto(total, tree.cliques[node], tree.separators[node])
            upward[node] = message / message.sum()
        beliefs, downward = [None] * len(tree.cliques), {}
        for node in tree.order:
            clique, children = tree.cliques[node], tree.children[node]
            base = factors[node]
            if tree.parent[node] >= 0:
                base = base * _expand(downward[node], tree.separators[node], clique, sizes)
            inflow = [_expand(upward[child], tree.separators[child], clique, sizes) for child in children]
            prefix = [base]  # prefix[i]: the base times the messages of children[:i]
            for message in inflow:
                prefix.append(prefix[-1] * message)
            suffix = None  # the messages of children[i + 1:]
            for i in reversed(range(len(children))):
                others = prefix[i] if suffix is None else prefix[i] * suffix
                message = _sum_onto(others, clique, tree.separators[children[i]])
                downward[children[i]] = message / message.sum()
                suffix = inflow[i] if suffix is None else suffix * inflow[i]
            beliefs[node] = prefix[-1] / prefix[-1].sum()
        return beliefs

    def marginal(self, clique: Clique, beliefs: list[torch.Tensor] | None = None) -> torch.Tensor:
        """The model's probability table over `clique` (exact): from a junction clique holding it, else by
        variable elimination on the junction-tree factorisation prod mu_C / prod mu_S."""
        beliefs = self.beliefs() if beliefs is None else beliefs
        home = self.tree.home(clique)
        if home >= 0:
            return _sum_onto(beliefs[home], self.tree.cliques[home], clique)
        return _eliminate(self._subtree_factors(set(clique), beliefs), clique, self.sizes).exp()

    def _subtree_factors(self, needed: set[int], beliefs: list[torch.Tensor]) -> list[tuple[Clique, torch.Tensor]]:
        """Log-factors of the smallest subtree covering `needed` (leaves holding nothing new pruned; by the
        running-intersection property a leaf's needed attributes also lie in its neighbour)."""
        tree = self.tree
        keep = set(range(len(tree.cliques)))
        pruned = True
        while pruned and len(keep) > 1:
            pruned = False
            for node in sorted(keep):
                links = [n for n in keep if n != node and (tree.parent[n] == node or tree.parent[node] == n)]
                rest = set().union(*(set(tree.cliques[n]) for n in keep if n != node))
                if len(links) <= 1 and needed & set(tree.cliques[node]) <= rest:
                    keep.discard(node)
                    pruned = True
                    break
        factors = [(tree.cliques[n], beliefs[n].clamp_min(1e-300).log()) for n in keep]
        for n in keep:
            if tree.parent[n] in keep:
                below = _sum_onto(beliefs[n], tree.cliques[n], tree.separators[n])
                factors.append((tree.separators[n], -below.clamp_min(1e-300).log()))
        return factors

    def sample(self, rows: int, rng: np.random.Generator) -> np.ndarray:
        """Ancestral sampling down the tree: the root clique from its marginal, every other clique's new
        attributes from their distribution given the separator. Codes of shape (rows, attributes)."""
        tree, sizes = self.tree, self.sizes
        beliefs = [b.detach().cpu().numpy() for b in self.beliefs()]
        codes = np.zeros((rows, len(sizes)), dtype=np.int64)
        for node in tree.order:
            clique, given = tree.cliques[node], tree.separators[node]
            new = tuple(a for a in clique if a not in given)
            table = beliefs[node].transpose([clique.index(a) for a in given + new])
            table = table.reshape(cells(given, sizes), cells(new, sizes))
            table = np.where(table.sum(1, keepdims=True) > 0, table, 1.0)
            cdf = np.cumsum(table / table.sum(1, keepdims=True), axis=1)
            cdf[:, -1] = 1.0
            row = (np.ravel_multi_index(tuple(codes[:, list(given)].T), [sizes[a] for a in given]) if given
                   else np.zeros(rows, dtype=np.int64))
            # The conditional tables' rows laid end to end on [0, rows of table): one sorted search for all records.
            flat = (cdf + np.arange(cdf.shape[0])[:, None]).reshape(-1)
            picked = np.searchsorted(flat, row + rng.random(rows), side="right") - row * cdf.shape[1]
            picked = np.clip(picked, 0, cdf.shape[1] - 1)
            codes[:, list(new)] = np.stack(np.unravel_index(picked, [sizes[a] for a in new]), axis=1)
        return codes


def _eliminate(factors: list[tuple[Clique, torch.Tensor]], keep: Clique, sizes: Sequence[int]) -> torch.Tensor:
    """Log-space variable elimination of every attribute outside `keep`; the result is normalised over `keep`."""
    factors = list(factors)
    hidden = set().union(*(set(c) for c, _ in factors)) - set(keep)
    while hidden:
        def cost(a: int) -> int:
            return cells(tuple(sorted(set().union(*(set(c) for c, _ in factors if a in c)))), sizes)

        chosen = min(sorted(hidden), key=cost)
        involved = [(c, t) for c, t in factors if chosen in c]
        factors = [(c, t) for c, t in factors if chosen not in c]
        scope = tuple(sorted(set().union(*(set(c) for c, _ in involved))))
        product = sum(_expand(t, c, scope, sizes) for c, t in involved)
        factors.append((tuple(a for a in scope if a != chosen), torch.logsumexp(product, dim=scope.index(chosen))))
        hidden.discard(chosen)
    scope = tuple(sorted(keep))
    total = sum(_expand(t, c, scope, sizes).expand([sizes[a] for a in scope]) for c, t in factors)
    return total - torch.logsumexp(total.reshape(-1), dim=0)


def fit(model: GraphicalModel, measurements: Sequence[Measurement], *, total: float, sweeps: int,
        iterations: int) -> tuple[GraphicalModel, float]:
    """Fit the potentials to the measurements by weighted least squares, L = 1/2 sum_r ||m_r - y_r||^2 / sigma_r^2
    on the model's marginal counts m = total * mu (residuals weighted by 1/sigma), from `model`'s potentials.

    First `sweeps` of iterative proportional fitting towards the clipped, smoothed measurements (each measurement
    in turn rescales its home clique so the model matches it: fast, but blind to the noise scales), then
    `iterations` of entropic mirror descent on L itself (Private-PGM's estimator: the gradient in the marginals
    applied to the potentials, Armijo line search). Returns the fitted model and its loss."""
    tree, sizes = model.tree, model.sizes
    homes = [tree.home(m.clique) for m in measurements]
    if any(h < 0 for h in homes):
        raise ValueError("a measured clique is not covered by the junction tree")
    shapes = [[sizes[a] for a in m.clique] for m in measurements]
    potentials = [p.clone() for p in model.potentials]
    largest_first = sorted(range(len(measurements)), key=lambda i: (-len(measurements[i].clique), i))
    for _ in range(sweeps):
        for i in largest_first:
            measurement, home = measurements[i], homes[i]
            belief = model.beliefs(potentials)[home]
            modelled = total * _sum_onto(belief, tree.cliques[home], measurement.clique).reshape(-1)
            # Smoothing by sigma keeps cells the noise pushed below zero from being driven to -inf.
            ratio = torch.log((measurement.y.clamp_min(0) + measurement.sigma) / (modelled + measurement.sigma))
            potentials[home] = potentials[home] + _expand(ratio.reshape(shapes[i]), measurement.clique,
                                                          tree.cliques[home], sizes)

    def loss_and_gradient(beliefs: list[torch.Tensor]) -> tuple[float, list[torch.Tensor]]:
        gradients = [torch.zeros_like(b) for b in beliefs]
        loss = 0.0
        for i, (measurement, home) in enumerate(zip(measurements, homes)):
            modelled = total * _sum_onto(beliefs[home], tree.cliques[home], measurement.clique).reshape(-1)
            residual = modelled - measurement.y
            loss += 0.5 * float(residual @ residual) / measurement.sigma**2
            gradients[home] = gradients[home] + _expand((total / measurement.sigma**2 * residual).reshape(shapes[i]),
                                                        measurement.clique, tree.cliques[home], sizes)
        return loss, gradients

    beliefs = model.beliefs(potentials)
    loss, gradient = loss_and_gradient(beliefs)
    step = 1.0 / sum(total**2 / m.sigma**2 for m in measurements)  # conservative; the line search grows it
    for _ in range(iterations):
        step *= 2.0
        for _ in range(40):
            trial = [p - step * g for p, g in zip(potentials, gradient)]
            trial_beliefs = model.beliefs(trial)
            trial_loss, trial_gradient = loss_and_gradient(trial_beliefs)
            # Armijo: accept once the loss falls by at least half the first-order prediction.
            predicted = sum(float((g * (b - t)).sum()) for g, b, t in zip(gradient, beliefs, trial_beliefs))
            if loss - trial_loss >= 0.5 * predicted:
                break
            step *= 0.5
        else:
            break  # no step decreases the loss: at a minimum to working precision
        potentials, beliefs, loss, gradient = trial, trial_beliefs, trial_loss, trial_gradient
    return GraphicalModel(tree, sizes, potentials), loss


def reshape_onto(model: GraphicalModel, tree: JunctionTree) -> GraphicalModel:
    """The same distribution's potentials moved onto a larger tree (a warm start after adding a clique): each
    old clique's potential goes to a new clique holding it."""
    potentials = [torch.zeros([model.sizes[a] for a in c], dtype=torch.float64) for c in tree.cliques]
    for clique, potential in zip(model.tree.cliques, model.potentials):
        home = tree.home(clique)
        potentials[home] = potentials[home] + _expand(potential, clique, tree.cliques[home], model.sizes)
    return GraphicalModel(tree, model.sizes, potentials)

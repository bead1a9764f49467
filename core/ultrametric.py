"""HAFrames of a tree without its K×K distance matrix (iNaturalist-21 scale: K = 10,000).

A tree distance is an ultrametric: d(i, j) depends only on the node LCA(i, j). With the classes in
tree (pre-)order every subtree is a contiguous range of positions, so any kernel E_ij = e(d(i, j))
with e decreasing is a sum of constant blocks,

    E = Σ_v α_v·1_v 1_vᵀ,   α_v = e(d_v) − e(d_parent(v)) ≥ 0,   α_root = e(d_root),

(d_v: the distance of two classes whose LCA is v, 0 for a leaf). Three consequences used here:

* Cholesky, bottom-up: each node adds α_v·1 1ᵀ to the block-diagonal matrix of its children, a
  rank-one update whose factor has the closed form chol(I + p pᵀ) = diag(δ) + tril(p qᵀ, −1)
  (s_k = 1 + Σ_{j≤k} p_j², δ_k = √(s_k/s_{k−1}), q_k = p_k/√(s_k s_{k−1})). Below the children's
  diagonal blocks the new factor is constant down each column, and u = L⁻¹1 is √α-scaled q — so
  ``m*`` costs O(nodes + K·H) and the factor O(Σ_v n_v²) numpy work instead of LAPACK's K³/3.
* Spectrum, bottom-up: eigenvectors orthogonal to 1_v keep their eigenvalue for ever (every
  ancestor adds a multiple of 1_v 1_vᵀ on that block); only the spectral measure of 1_v (pairs
  eigenvalue, weight) is carried up, merged over children and moved by a secular equation.
* Distances between any tree positions come from the ancestor table, so heatmap images can be
  drawn at screen resolution without building the K×K matrix.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["TreeDistances", "tree_kernel_levels", "tree_whiten", "tree_critical", "tree_factor",
           "tree_spectral_measure", "tree_target", "lambda_min_measure",
           "tree_min_eigenvalue_curve", "tree_matvec", "tree_top_eigenvectors", "tree_spectrum", "secular_roots", "random_pairs_error"]

BISECT_STEPS, NEWTON_STEPS = 14, 30  # secular equation solver: bracket, then polish


@dataclass(frozen=True, eq=False)
class TreeDistances:
    """A tree's class distances in O(nodes) form.

    order:  (K,) class index at each tree position (``Hierarchy.tree_order()``).
    start, stop: (N,) each node's leaf positions [start, stop) in tree order (nodes in pre-order).
    parent: (N,) parent node id, −1 for the root.
    level:  (N,) distance between two classes whose LCA is the node (0 for a leaf).
    ancestors: (K, A) node id of each tree position's ancestor at depth 0…A−1 (itself below its depth).
    """

    order: np.ndarray
    start: np.ndarray
    stop: np.ndarray
    parent: np.ndarray
    level: np.ndarray
    ancestors: np.ndarray

    @classmethod
    def from_hierarchy(cls, hierarchy, convention: str = "depth") -> TreeDistances:
        """From a ``core.hierarchy.Hierarchy`` (its nodes are in pre-order)."""
        parents = np.asarray(hierarchy.parents)
        n = len(parents)
        is_leaf = np.zeros(n, dtype=bool)
        is_leaf[hierarchy.leaf_ids] = True
        start = np.zeros(n, dtype=np.int64)
        count = is_leaf.astype(np.int64)
        for i in range(n - 1, 0, -1):  # reverse pre-order: children first
            count[parents[i]] += count[i]
        position = np.cumsum(is_leaf) - is_leaf  # leaves seen before each node in pre-order
        start[:] = position
        if convention == "depth":
            level = hierarchy.height - hierarchy.depths
        elif convention == "height":
            level = hierarchy.heights.copy()
        else:
            raise ValueError(f"unknown distance convention '{convention}'")
        level = np.where(is_leaf, 0, level).astype(np.int64)
        # Nodes above the highest branching node are no class pair's LCA: cap them at D_max, the
        # largest class distance, so e(d) (normalised by D_max) telescopes exactly along the chain.
        branching = np.bincount(parents[1:], minlength=n) > 1
        level = np.minimum(level, level[branching].max())
        table = hierarchy.ancestor_ids[hierarchy.tree_order()]  # (K, H+1), −1 below a leaf's depth
        filled = np.where(table >= 0, table, np.maximum.accumulate(table, axis=1))
        return cls(hierarchy.tree_order(), start, start + count, parents, level, filled)

    @property
    def num_classes(self) -> int:
        return len(self.order)

    @property
    def max_level(self) -> int:
        return int(self.level.max())

    def lca(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """(len(rows), len(cols)) LCA node ids between tree positions (deepest shared ancestor)."""
        a, b = self.ancestors[rows], self.ancestors[cols]
        lca = np.full((len(rows), len(cols)), self.ancestors[0, 0], dtype=np.int64)
        for depth in range(1, a.shape[1]):
            same = a[:, None, depth] == b[None, :, depth]
            if not same.any():
                break
            lca = np.where(same, a[:, None, depth], lca)
        return lca

    def distances_between(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Distances between tree positions ``rows`` × ``cols`` (e.g. every 9th position for an image)."""
        dist = self.level[self.lca(rows, cols)]
        dist[np.asarray(rows)[:, None] == np.asarray(cols)[None, :]] = 0
        return dist

    def dense(self) -> np.ndarray:
        """(K, K) int64 distances in class-index order (small K; tests compare it with the Hierarchy's)."""
        positions = np.arange(self.num_classes)
        inverse = np.argsort(self.order)
        return self.distances_between(positions, positions)[np.ix_(inverse, inverse)]


def tree_kernel_levels(tree: TreeDistances, gamma: float, mapping: str) -> np.ndarray:
    """e(d_v) for every node: exp(−γ·d/D_max) or 1 − d/D_max (METHOD.md §2)."""
    x = tree.level / tree.max_level
    return np.exp(-gamma * x) if mapping == "exponential" else 1.0 - x


def _alphas(tree: TreeDistances, e: np.ndarray) -> np.ndarray:
    alpha = e - np.where(tree.parent >= 0, e[np.maximum(tree.parent, 0)], 0.0)
    return np.maximum(alpha, 0.0)


def _internal_nodes_bottom_up(tree: TreeDistances) -> np.ndarray:
    internal = np.flatnonzero(tree.stop - tree.start > 1)
    return internal[::-1]  # reverse pre-order: every child before its parent


def _children(tree: TreeDistances) -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for node, parent in enumerate(tree.parent.tolist()):
        if parent >= 0:
            kids.setdefault(parent, []).append(node)
    return kids


def tree_whiten(tree: TreeDistances, e: np.ndarray, with_factor: bool = True
                ) -> tuple[np.ndarray | None, np.ndarray]:
    """(L, u) in tree order: E = L Lᵀ (lower triangular, K×K) and u = L⁻¹1, from the node values
    ``e`` = e(d_v). ``with_factor=False`` skips L (u alone gives m*, in O(nodes + K·H))."""
    k = tree.num_classes
    alpha = _alphas(tree, e)
    kids = _children(tree)
    diag = np.zeros(k)
    # a leaf's own α plus those of unary ancestors spanning only it: they all add to one diagonal entry
    for node in np.flatnonzero(tree.stop - tree.start == 1):
        diag[tree.start[node]] += alpha[node]
    u = 1.0 / np.sqrt(diag)
    chol = np.zeros((k, k)) if with_factor else None
    if with_factor:
        chol[np.arange(k), np.arange(k)] = np.sqrt(diag)
    for node in _internal_nodes_bottom_up(tree):
        a, b, al = int(tree.start[node]), int(tree.stop[node]), float(alpha[node])
        if al <= 0.0:
            continue
        p = np.sqrt(al) * u[a:b]
        s = 1.0 + np.cumsum(p * p)
        s_prev = np.concatenate(([1.0], s[:-1]))
        delta, q = np.sqrt(s / s_prev), p / np.sqrt(s * s_prev)
        if with_factor:
            for child in kids[int(node)]:
                ca, cb = int(tree.start[child]) - a, int(tree.stop[child]) - a
                _update_block(chol[a + ca:a + cb, a + ca:a + cb], p[ca:cb], delta[ca:cb], q[ca:cb])
                chol[a + cb:b, a + ca:a + cb] = np.sqrt(al) * q[ca:cb]  # constant down each column
        u[a:b] = q / np.sqrt(al)
    return chol, u


def _update_block(block: np.ndarray, p: np.ndarray, delta: np.ndarray, q: np.ndarray) -> None:
    """In place: block ← block·diag(δ) + R·diag(q), R[i, k] = Σ_{j>k} block[i, j]·p_j (a child's
    diagonal block in the rank-one update; see the module docstring)."""
    if len(block) == 1:
        block *= delta
        return
    t = torch.from_numpy(block)  # torch: one thread pool with the rest of the construction
    running = torch.cumsum(t * torch.from_numpy(p), dim=1)
    tail = torch.sub(running[:, -1:].clone(), running, out=running)  # Σ_{j>k} = total − Σ_{j≤k}: no flipped copies
    t.mul_(torch.from_numpy(delta)).addcmul_(tail, torch.from_numpy(q))


def tree_target(tree: TreeDistances, e: np.ndarray, m: float) -> np.ndarray:
    """S(m) = (1 − m)·E + m (K×K, class-index order), written block by block: each node's block of
    classes gets its value, children overwriting parents (O(K² + Σ_v n_v²) writes, no distance matrix)."""
    k = tree.num_classes
    value = (1.0 - m) * e + m
    target = np.full((k, k), value[0])
    for node in np.flatnonzero((tree.stop - tree.start > 1) & (tree.parent >= 0)):
        a, b = tree.start[node], tree.stop[node]
        target[a:b, a:b] = value[node]
    np.fill_diagonal(target, 1.0)
    inverse = np.argsort(tree.order)
    return target if np.array_equal(inverse, np.arange(k)) else target[np.ix_(inverse, inverse)]


def tree_critical(tree: TreeDistances, gamma: float = 2.0, mapping: str = "exponential") -> float:
    """m* = −1/(1ᵀE⁻¹1 − 1), clipped to −1, without any K×K matrix."""
    _, u = tree_whiten(tree, tree_kernel_levels(tree, gamma, mapping), with_factor=False)
    return max(-1.0 / (float(u @ u) - 1.0), -1.0)


def tree_factor(tree: TreeDistances, gamma: float, mapping: str, m: float) -> np.ndarray:
    """W₀ (K×K, rows in class-index order) with W₀W₀ᵀ = S(m) exactly, for m ≥ m*; the Cholesky-based
    factor of ``core.frames`` built from the tree (same formula, same result up to rounding)."""
    chol, u = tree_whiten(tree, tree_kernel_levels(tree, gamma, mapping))
    q = float(u @ u)
    tau = -m / (1.0 - m)
    c = (1.0 - np.sqrt(max(1.0 - tau * q, 0.0))) / q
    w = torch.from_numpy(chol)
    u_t = torch.from_numpy(u)
    w.addr_(w @ u_t, u_t, alpha=-c).mul_(np.sqrt(1.0 - m))  # in place: no second K×K array
    inverse = np.argsort(tree.order)
    return chol if np.array_equal(inverse, np.arange(len(inverse))) else chol[inverse]


# --------------------------------------------------------------------------- spectrum
def secular_roots(values: np.ndarray, weights: np.ndarray, rho: float) -> np.ndarray:
    """All eigenvalues (ascending) of diag(values) + rho·z zᵀ with z_j² = weights (values ascending and
    distinct, weights > 0): the roots of f(x) = 1 + rho·Σ w_j/(values_j − x), one per interval.

    Vectorised over the roots: bisection narrows each bracket 2¹⁴-fold, then Newton steps (kept inside
    the bracket) converge quadratically; O(p²) per step instead of an O(p³) dense eigensolver."""
    if rho == 0.0 or len(values) == 0:
        return values.copy()
    if len(values) == 1:
        return values + rho * weights
    total = rho * weights.sum()
    if rho > 0:
        lo, hi = values.copy(), np.append(values[1:], values[-1] + total)
    else:
        lo, hi = np.append(values[0] + total, values[:-1]), values.copy()
    x = 0.5 * (lo + hi)
    for step in range(BISECT_STEPS + NEWTON_STEPS):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            inv = 1.0 / (values[None, :] - x[:, None])
            winv = weights[None, :] * inv
            f = 1.0 + rho * winv.sum(axis=1)
            # across an interval f rises from −∞ to +∞ when rho > 0 (falls when rho < 0)
            right = (f < 0) if rho > 0 else (f > 0)
            lo, hi = np.where(right, x, lo), np.where(right, hi, x)
            if step < BISECT_STEPS:
                x = 0.5 * (lo + hi)
                continue
            newton = x - f / (rho * (winv * inv).sum(axis=1))
        inside = np.isfinite(newton) & (newton > lo) & (newton < hi)
        moved, x = x, np.where(inside, newton, 0.5 * (lo + hi))
        if np.abs(x - moved).max() <= 4e-16 * np.abs(x).max():
            break
    return x


def _root_weights(values: np.ndarray, weights: np.ndarray, rho: float, roots: np.ndarray) -> np.ndarray:
    """Squared projection of 1 (z) on each new eigenvector: 1 / (rho²·Σ w_j/(values_j − root)²)."""
    with np.errstate(divide="ignore"):
        gaps = values[None, :] - roots[:, None]
        return 1.0 / (rho * rho * np.sum(weights[None, :] / (gaps * gaps), axis=1))


def _merge(values: np.ndarray, weights: np.ndarray, free: list[np.ndarray], scale: float
           ) -> tuple[np.ndarray, np.ndarray]:
    """Sort, merge (numerically) equal eigenvalues into one coupled eigenvector (the rest of that
    eigenspace is orthogonal to 1: appended to ``free``) and drop vanishing weights to ``free``."""
    idx = np.argsort(values, kind="stable")
    values, weights = values[idx], weights[idx]
    tol = 1e-11 * scale
    new_group = np.concatenate(([True], np.diff(values) > tol))
    group = np.cumsum(new_group) - 1
    merged_w = np.bincount(group, weights)
    merged_v = values[new_group]
    sizes = np.bincount(group)
    free.append(np.repeat(merged_v, sizes - 1))
    keep = merged_w > 1e-13 * merged_w.sum()
    free.append(merged_v[~keep])
    return merged_v[keep], merged_w[keep]


def tree_spectral_measure(tree: TreeDistances, e: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """E's eigenvalues split in two: (coupled values, their weights (vᵀ1)², free values), where the
    free eigenvectors are orthogonal to 1 (ascending each). Coupled weights sum to K."""
    alpha = _alphas(tree, e)
    kids = _children(tree)
    free: list[np.ndarray] = []
    measure: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    scale = float(e.max())
    for node in range(len(tree.parent) - 1, -1, -1):  # reverse pre-order: children first
        if node in kids:
            parts = [measure.pop(c) for c in kids[node]]
            values = np.concatenate([v for v, _ in parts])
            weights = np.concatenate([w for _, w in parts])
            values, weights = _merge(values, weights, free, scale)
        else:
            values, weights = np.zeros(1), np.ones(1)
        rho = float(alpha[node])
        if rho > 0:
            roots = secular_roots(values, weights, rho)
            weights = _root_weights(values, weights, rho, roots) if len(values) > 1 else weights
            values = roots
        measure[node] = (values, weights)
    values, weights = measure[0]
    rest = np.sort(np.concatenate(free)) if free else np.zeros(0)
    return values, weights, rest


def tree_spectrum(tree: TreeDistances, gamma: float, mapping: str, m: float) -> np.ndarray:
    """Eigenvalues of S(m) = (1 − m)·E + m·J, ascending (K,), without a K×K matrix."""
    values, weights, free = tree_spectral_measure(tree, tree_kernel_levels(tree, gamma, mapping))
    coupled = secular_roots(values, weights, m / (1.0 - m)) if len(values) else values
    return np.sort(np.concatenate([coupled, free])) * (1.0 - m)


def tree_min_eigenvalue_curve(tree: TreeDistances, gamma: float, mapping: str, ms: np.ndarray) -> np.ndarray:
    """λ_min(S(m)) for every m in ``ms`` (feasible or not) from one spectral measure of E."""
    values, weights, free = tree_spectral_measure(tree, tree_kernel_levels(tree, gamma, mapping))
    return lambda_min_measure(np.concatenate([values, free]), np.concatenate([weights, np.zeros(len(free))]), ms)


def tree_matvec(tree: TreeDistances, e: np.ndarray, m: float, x: np.ndarray) -> np.ndarray:
    """S(m)·x (class-index order) in O(nodes + K): Σ_v α_v·1_v(1_vᵀx) from prefix sums over tree positions."""
    alpha = _alphas(tree, e) * (1.0 - m)
    alpha[0] += m
    xt = np.asarray(x, dtype=np.float64)[tree.order]
    prefix = np.concatenate([np.zeros((1,) + xt.shape[1:]), np.cumsum(xt, axis=0)])
    sums = (prefix[tree.stop] - prefix[tree.start]) * alpha.reshape((-1,) + (1,) * (xt.ndim - 1))
    marks = np.zeros((tree.num_classes + 1,) + xt.shape[1:])
    np.add.at(marks, tree.start, sums)
    np.add.at(marks, tree.stop, -sums)
    out = np.empty_like(xt)
    out[tree.order] = np.cumsum(marks, axis=0)[:-1]
    return out


def tree_top_eigenvectors(tree: TreeDistances, gamma: float, mapping: str, m: float, count: int = 3
                          ) -> tuple[np.ndarray, np.ndarray]:
    """The ``count`` largest eigenvalues of S(m) (descending) and their eigenvectors (K, count), by
    Lanczos (scipy, imported here only) on ``tree_matvec``; dense ``eigh`` for small K."""
    k = tree.num_classes
    e = tree_kernel_levels(tree, gamma, mapping)
    try:  # scipy comes with the app's requirements (umap-learn); core alone falls back to a dense eigh
        from scipy.sparse.linalg import LinearOperator, eigsh
    except ImportError:
        eigsh = None
    if k <= 600 or eigsh is None:
        vals, vecs = np.linalg.eigh(tree_target(tree, e, m))
    else:
        op = LinearOperator((k, k), matvec=lambda v: tree_matvec(tree, e, m, v), dtype=np.float64)
        vals, vecs = eigsh(op, k=count, which="LA", v0=np.ones(k) + np.linspace(0, 1, k), tol=1e-10)
    top = np.argsort(vals)[::-1][:count]
    return vals[top], vecs[:, top]


def random_pairs_error(weights: np.ndarray, target_of, rows: int = 256, seed: int = 0) -> float:
    """max |W Wᵀ − S| over ``rows`` random rows (all columns): the exactness check at a cost of
    rows·K·d instead of K²·d. ``target_of(idx)`` gives S's rows ``idx`` (class-index order)."""
    k = len(weights)
    idx = np.random.default_rng(seed).choice(k, size=min(rows, k), replace=False)
    w = torch.from_numpy(weights)
    gram = (w[idx] @ w.T).numpy()
    return float(np.abs(gram - target_of(idx)).max())


def lambda_min_measure(vals: np.ndarray, weight: np.ndarray, ms: np.ndarray) -> np.ndarray:
    """λ_min((1 − m)E + m·11ᵀ) for many m, given E's eigenvalues ``vals`` and weight_j = (v_jᵀ1)².

    In E's eigenbasis S = aΛ + b·zzᵀ (a = 1 − m, b = m, z = Vᵀ1). Eigenvectors with z_j = 0
    (e.g. differences of siblings) keep eigenvalue aλ_j; the rest solve the secular equation
    1 + b·Σ z_j²/(aλ_j − x) = 0, whose smallest root we find by bisection.
    """
    coupled = weight > 1e-10 * len(vals)
    lam_c, w_c = vals[coupled], weight[coupled]
    ms = np.asarray(ms, dtype=np.float64)
    a, b = 1.0 - ms, ms
    lowest_free = a * vals[~coupled].min() if (~coupled).any() else np.full(len(ms), np.inf)
    trivial = np.minimum(a * vals.min(), lowest_free)  # b = 0, or no eigenvector couples to 1
    if not coupled.any():
        return trivial
    # Bisection for every m at once (rows): the root lies below the first pole when b < 0, between the
    # first two poles (or above the only one) when b > 0.
    poles = a[:, None] * lam_c[None, :]
    below = b < 0
    beyond = poles[:, 1] if len(lam_c) > 1 else poles[:, 0] + b * w_c.sum() + 1.0
    lo = np.where(below, poles[:, 0] + b * w_c.sum() - 1.0, poles[:, 0])
    hi = np.where(below, poles[:, 0], beyond)
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        with np.errstate(divide="ignore", invalid="ignore"):  # mid can hit a repeated pole
            f = 1.0 + b * np.sum(w_c / (poles - mid[:, None]), axis=1)
        up = (f > 0) == below
        lo, hi = np.where(up, mid, lo), np.where(up, hi, mid)
    return np.where(b == 0, trivial, np.minimum(0.5 * (lo + hi), lowest_free))

"""Fixed classifier frames: the Hierarchy-Aware Frame (HAFrame) and the simplex ETF.

A frame is K unit vectors in R^d (d ≥ K) whose Gram matrix equals a target cosine matrix S.
HAFrame (METHOD.md §2–4): ``S(m) = (1 − m)·E + m·J`` with E = exp(−γ·D/D_max) (exponential
mapping) or J − D/D_max (linear), J the all-ones matrix and m the "min_similarity".

Choosing m (§3): S(m) is PSD iff m ≥ m* = −1/(q − 1), q = 1ᵀE⁻¹1, so one Cholesky solve gives the
most separated feasible frame. ``"grid"`` reproduces the reference's 100-point search (the first
grid value ≥ m*) without its 100 eigendecompositions.

Factorisation without eigh: with E = L Lᵀ, u = L⁻¹1 (‖u‖² = q) and τ = −m/(1 − m),
``S = (1 − m)·L (I − τ u uᵀ) Lᵀ`` and ``I − τ u uᵀ = (I − c u uᵀ)²`` for
``c = (1 − √(1 − τq))/q`` (real exactly when m ≥ m*), so ``W₀ = √(1 − m)·L (I − c u uᵀ)``
satisfies W₀W₀ᵀ = S exactly, also at the singular boundary m = m*.

Every function taking ``distances`` also takes a ``core.ultrametric.TreeDistances`` (a tree's
distances in O(nodes) form): the same frame then comes from the tree's block structure, without
any K×K distance matrix or LAPACK factorisation (K = 10,000 in seconds; see that module).
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import torch

from core.ultrametric import (TreeDistances, lambda_min_measure, tree_critical, tree_factor, tree_kernel_levels,
                             tree_target)

__all__ = [
    "Frame", "FrameError", "MAPPINGS", "etf", "haframe", "similarity_matrix", "base_kernel",
    "critical_min_similarity", "grid_min_similarity", "reference_grid_search", "resolve_min_similarity",
    "spectrum", "feasibility_curve", "min_eigenvalue_curve", "cosine_by_distance", "cosines_by_distance",
    "coordinates_3d", "export_frame", "EXPORT_FORMATS",
]

MAPPINGS = ("exponential", "linear")
GRID_POINTS = 100


class FrameError(ValueError):
    """A frame cannot be built with the requested settings; the message says why."""


@dataclass(frozen=True, eq=False)
class Frame:
    """A fixed classifier frame.

    weights:  (K, d) float64, unit rows, the classifier (row k = class k).
    target:   (K, K) float64 target cosines, equal to ``weights @ weights.T``.
    min_similarity: the m used (the exponential mapping's asymptote; −1/(K−1) for the ETF).
    """

    weights: np.ndarray
    target: np.ndarray
    min_similarity: float
    kind: str = "haframe"
    gamma: float | None = None
    mapping: str | None = None

    @property
    def num_classes(self) -> int:
        return self.weights.shape[0]

    @property
    def dim(self) -> int:
        return self.weights.shape[1]


# --------------------------------------------------------------------------- targets
def base_kernel(distances: np.ndarray, gamma: float = 2.0, mapping: str = "exponential") -> np.ndarray:
    """E (K×K): exp(−γ·D/D_max) or J − D/D_max; S(m) = (1 − m)·E + m·J."""
    dist = _check_distances(distances)
    _check_mapping(gamma, mapping)
    mapped = (lambda x: np.exp(-gamma * x)) if mapping == "exponential" else (lambda x: 1.0 - x)
    if np.issubdtype(dist.dtype, np.integer):  # tree distances: map the H + 1 levels, then look up
        return mapped(np.arange(dist.max() + 1) / dist.max())[dist]
    return mapped(dist / dist.max())


def _check_mapping(gamma: float, mapping: str) -> None:
    if mapping not in MAPPINGS:
        raise FrameError(f"unknown mapping '{mapping}'; use one of {MAPPINGS}")
    if mapping == "exponential" and not gamma > 0:
        raise FrameError(f"gamma must be positive, got {gamma}")


def similarity_matrix(distances, min_similarity: float, gamma: float = 2.0,
                      mapping: str = "exponential") -> np.ndarray:
    """S(m) (K×K): target cosines from distances (METHOD.md §2)."""
    m = float(min_similarity)
    return (1.0 - m) * base_kernel(distances, gamma, mapping) + m


def critical_min_similarity(distances, gamma: float = 2.0, mapping: str = "exponential") -> float:
    """m* = −1/(1ᵀE⁻¹1 − 1): the most negative m with S(m) PSD (METHOD.md §3.2)."""
    if isinstance(distances, TreeDistances):
        _check_mapping(gamma, mapping)
        return tree_critical(distances, gamma, mapping)
    return _critical(base_kernel(distances, gamma, mapping))


def grid_min_similarity(distances, gamma: float = 2.0, mapping: str = "exponential") -> float:
    """The reference's grid answer: the smallest of linspace(−1/(K−1), −1, 100) that is ≥ m*."""
    return resolve_min_similarity(distances, "grid", gamma, mapping)


def reference_grid_search(distances, gamma: float = 2.0, mapping: str = "exponential") -> float:
    """The reference's own algorithm, verbatim in cost: 100 full ``numpy.linalg.eigh`` calls.

    Kept as the baseline for ``bench/`` and fidelity tests; use ``grid_min_similarity``.
    """
    kernel = base_kernel(distances, gamma, mapping)
    best = np.inf
    for g in _reference_grid(len(distances)):
        eig, _ = np.linalg.eigh((1.0 - g) * kernel + g)  # the reference discards the eigenvectors
        eig[np.abs(eig) < 1e-6] = 0.0
        if eig.min() >= 0:
            best = min(best, g)
    return float(best)


def resolve_min_similarity(distances, min_similarity="exact", gamma: float = 2.0,
                           mapping: str = "exponential") -> float:
    """Turn ``"exact"``, ``"grid"`` or a number into m, checking feasibility."""
    if isinstance(distances, TreeDistances):
        star = critical_min_similarity(distances, gamma, mapping)
        return _choose_m(star, distances.num_classes, min_similarity, gamma, mapping)
    kernel = base_kernel(distances, gamma, mapping)
    return _choose_m(_critical(kernel), len(kernel), min_similarity, gamma, mapping)


def _choose_m(m_star: float, num_classes: int, min_similarity, gamma: float, mapping: str) -> float:
    if isinstance(min_similarity, str):
        if min_similarity == "exact":
            return m_star
        if min_similarity == "grid":
            grid = _reference_grid(num_classes)
            return float(grid[grid >= m_star].min())
        raise FrameError(f"min_similarity must be 'exact', 'grid' or a number, got '{min_similarity}'")
    m = float(min_similarity)
    if not -1.0 <= m < 1.0:
        raise FrameError(f"min_similarity must lie in [−1, 1), got {m}")
    if m < m_star - 1e-12:
        raise FrameError(
            f"min_similarity {m:.6g} is infeasible for this hierarchy ({mapping} mapping, γ = {gamma:g}): "
            f"the target matrix would not be positive semidefinite. The smallest feasible value is "
            f"m* = {m_star:.6g}."
        )
    return m


# --------------------------------------------------------------------------- frames
def haframe(distances, gamma: float = 2.0, min_similarity="exact", dim: int | None = None,
            seed: int | None = 0, mapping: str = "exponential") -> Frame:
    """Hierarchy-Aware Frame for a K×K distance matrix.

    distances: (K, K) non-negative, symmetric, zero diagonal (e.g. ``Hierarchy.distance_matrix()``).
    min_similarity: ``"exact"`` (closed-form m*), ``"grid"`` (reference rule) or a number.
    dim: feature dimension d ≥ K (default K). seed: random rotation seed; ``None`` gives the
    deterministic (un-rotated, Cholesky-based) frame, zero-padded to d.
    """
    if isinstance(distances, TreeDistances):
        m = resolve_min_similarity(distances, min_similarity, gamma, mapping)
        weights = _embed(tree_factor(distances, gamma, mapping, m), dim, seed)
        target = tree_target(distances, tree_kernel_levels(distances, gamma, mapping), m)
        return Frame(weights, target, m, "haframe", float(gamma), mapping)
    kernel = base_kernel(distances, gamma, mapping)
    chol, u = _whiten(kernel)
    m = _choose_m(_m_star(u), len(kernel), min_similarity, gamma, mapping)
    weights = _embed(_factor(chol, u, m), dim, seed)
    target = (1.0 - m) * kernel + m
    return Frame(weights, target, m, "haframe", float(gamma), mapping)


def etf(num_classes: int, dim: int | None = None, seed: int | None = 0) -> Frame:
    """Simplex equiangular tight frame: every off-diagonal cosine is −1/(K−1)."""
    k = int(num_classes)
    if k < 2:
        raise FrameError(f"an ETF needs at least 2 classes, got {k}")
    centred = np.eye(k) - 1.0 / k
    weights = _embed(np.sqrt(k / (k - 1)) * centred, dim, seed)
    target = (k / (k - 1)) * centred
    return Frame(weights, target, -1.0 / (k - 1), "etf")


# --------------------------------------------------------------------------- diagnostics
def spectrum(target: np.ndarray) -> np.ndarray:
    """Eigenvalues of a target matrix, ascending (K,)."""
    return np.linalg.eigvalsh(target)


def feasibility_curve(distances, gamma: float = 2.0, mapping: str = "exponential",
                      num: int = 60, m_min: float = -1.0, m_max: float = 0.0):
    """λ_min(S(m)) over ``num`` values of m in [m_min, m_max].

    Returns (m values (num,), λ_min (num,), m*). Uses λ_min(S(m)) = (1 − m)·λ_min(E − τJ), all
    from one eigendecomposition of E's whitened form, so it costs O(K³) once.
    """
    kernel = base_kernel(distances, gamma, mapping)
    m_star = _critical(kernel)
    ms = np.linspace(m_min, m_max, num)
    return ms, _lambda_min_many(kernel, ms), m_star


def min_eigenvalue_curve(target_eig: tuple[np.ndarray, np.ndarray], min_similarity: float,
                         ms: np.ndarray) -> np.ndarray:
    """λ_min(S(m')) for each m' in ``ms``, from ``numpy.linalg.eigh(S(m))`` of one target S(m), m < 1.

    ``feasibility_curve`` without a new O(K³) decomposition, for a caller that already has S(m)'s (e.g.
    for the spectrum): S(m') = (1 − μ)·S(m) + μ·J with μ = 1 − (1 − m')/(1 − m), the same rank-one problem.
    """
    mu = 1.0 - (1.0 - np.asarray(ms, dtype=np.float64)) / (1.0 - float(min_similarity))
    return _lambda_min_eig(*target_eig, mu)


def cosine_by_distance(target: np.ndarray, distances: np.ndarray) -> dict[int, float]:
    """Target cosine at each off-diagonal distance level d → s(d) (mean over pairs at d)."""
    dist = np.asarray(distances)
    off = ~np.eye(len(dist), dtype=bool)
    return {int(d): float(target[(dist == d) & off].mean()) for d in np.unique(dist[off])}


def cosines_by_distance(target: np.ndarray, distances: np.ndarray) -> dict[int, np.ndarray]:
    """All pairwise cosines (i < j) grouped by hierarchical distance d → (n_d,) array."""
    rows, cols = np.triu_indices(len(target), k=1)
    dist, cos = np.asarray(distances)[rows, cols], np.asarray(target)[rows, cols]
    return {int(d): cos[dist == d] for d in np.unique(dist)}


def coordinates_3d(target: np.ndarray, eig: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, float]:
    """(K, 3) coordinates of frame vectors along the Gram matrix's top 3 principal axes.

    Returns the coordinates and the share of ‖W‖²_F they keep (1.0 means the view is exact, as for
    K ≤ 3, or K = 4 at m = m*, where the frame has rank 3). ``eig``: ``numpy.linalg.eigh(target)``
    when the caller already has it (e.g. for the spectrum), to skip a second decomposition.
    """
    vals, vecs = np.linalg.eigh(target) if eig is None else eig
    top = np.clip(vals[::-1][:3], 0.0, None)
    coords = vecs[:, ::-1][:, :3] * np.sqrt(top)
    if coords.shape[1] < 3:
        coords = np.pad(coords, ((0, 0), (0, 3 - coords.shape[1])))
    return coords, float(top.sum() / np.clip(vals, 0.0, None).sum())


EXPORT_FORMATS = ("npy", "pt", "csv")


def export_frame(frame: Frame, fmt: str, classes: list[str] | None = None) -> bytes:
    """Serialise a frame's weights (K×d): ``npy`` (float64 array), ``pt`` (a dict of tensors
    ``weights``/``target``, loadable with ``torch.load(..., weights_only=True)``) or ``csv``
    (one row per class, the class name first when ``classes`` is given)."""
    buffer = io.BytesIO()
    if fmt == "npy":
        np.save(buffer, frame.weights)
    elif fmt == "pt":
        torch.save({"weights": torch.from_numpy(frame.weights), "target": torch.from_numpy(frame.target),
                    "min_similarity": torch.tensor(frame.min_similarity)}, buffer)
    elif fmt == "csv":
        names = classes or [str(k) for k in range(frame.num_classes)]
        header = "class," + ",".join(f"w{j}" for j in range(frame.dim))
        lines = [header] + [f"{_csv_cell(n)}," + ",".join(repr(float(v)) for v in row)
                            for n, row in zip(names, frame.weights)]
        buffer.write(("\n".join(lines) + "\n").encode())
    else:
        raise FrameError(f"unknown export format '{fmt}'; use one of {EXPORT_FORMATS}")
    return buffer.getvalue()


def _csv_cell(text: str) -> str:
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if any(c in text for c in ',"\n') else text


# --------------------------------------------------------------------------- internals
def _check_distances(distances) -> np.ndarray:
    dist = np.asarray(distances)
    if not (np.issubdtype(dist.dtype, np.integer) or np.issubdtype(dist.dtype, np.floating)):
        raise FrameError(f"distances must be numeric, got {dist.dtype}")
    if dist.ndim != 2 or dist.shape[0] != dist.shape[1]:
        raise FrameError(f"distances must be a square matrix, got shape {dist.shape}")
    if len(dist) < 2:
        raise FrameError("a frame needs at least 2 classes")
    if dist.dtype.kind == "f" and not np.isfinite(dist).all():
        raise FrameError("distances must be finite (found NaN or infinity)")
    if np.abs(dist - dist.T).max() > 1e-9 * max(float(np.abs(dist).max()), 1.0):
        raise FrameError("distances must be symmetric")
    if (np.diag(dist) != 0).any() or (dist < 0).any() or dist.max() <= 0:
        raise FrameError("distances must be non-negative with a zero diagonal and some positive entry")
    return dist


def _reference_grid(num_classes: int) -> np.ndarray:
    return np.linspace(-1.0 / (num_classes - 1), -1.0, GRID_POINTS)


def _whiten(kernel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(L, u): E = L Lᵀ (Cholesky) and u = L⁻¹1 (a triangular solve), so q = 1ᵀE⁻¹1 = ‖u‖²."""
    chol = _cholesky(kernel)
    ones = torch.ones(len(kernel), 1, dtype=torch.float64)
    u = torch.linalg.solve_triangular(torch.from_numpy(chol), ones, upper=False)
    return chol, u[:, 0].numpy()


def _m_star(u: np.ndarray) -> float:
    """m* = −1/(q − 1), clipped to −1 where q < 2 (both mappings need m ≥ −1)."""
    return max(-1.0 / (float(u @ u) - 1.0), -1.0)


def _critical(kernel: np.ndarray) -> float:
    """m* for a kernel E."""
    return _m_star(_whiten(kernel)[1])


def _cholesky(kernel: np.ndarray) -> np.ndarray:
    # torch, like the rest of the construction: mixing numpy's BLAS threads with torch's OpenMP
    # threads makes them fight over the cores (a 20× slow-down seen on 2 cores).
    chol, info = torch.linalg.cholesky_ex(torch.from_numpy(np.ascontiguousarray(kernel, dtype=np.float64)))
    if int(info) == 0:
        return chol.numpy()
    raise FrameError(
        "the distance kernel is not positive definite, so no hierarchy-aware frame exists for "
        "these distances with this mapping (is the distance an ultrametric tree distance?)"
    )


def _factor(chol: np.ndarray, u: np.ndarray, m: float) -> np.ndarray:
    """W₀ (K×K) with W₀W₀ᵀ = S(m) = (1 − m)LLᵀ + mJ, exact for m ≥ m* (see module docstring)."""
    q = float(u @ u)
    tau = -m / (1.0 - m)
    c = (1.0 - np.sqrt(max(1.0 - tau * q, 0.0))) / q
    chol_t, u_t = torch.from_numpy(chol), torch.from_numpy(u)  # torch's BLAS, see _cholesky
    return (np.sqrt(1.0 - m) * (chol_t - c * torch.outer(chol_t @ u_t, u_t))).numpy()


def _embed(frame: np.ndarray, dim: int | None, seed: int | None) -> np.ndarray:
    """Place K×K frame rows into R^d: a seeded random orthonormal map, or zero-padding (seed None)."""
    k = len(frame)
    d = k if dim is None else int(dim)
    if d < k:
        raise FrameError(f"dim must be at least the number of classes ({k}), got {d}")
    if seed is None:
        return np.pad(frame, ((0, 0), (0, d - k)))
    reflectors, tau, signs = _haar_reflectors(d, k, seed)
    padded = torch.from_numpy(np.pad(frame * signs, ((0, 0), (0, d - k))) if d > k else frame * signs)
    return torch.ormqr(reflectors, tau, padded, left=False, transpose=True).numpy()  # frame·Q[:, :k]ᵀ


def _haar_reflectors(d: int, k: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """Householder reflectors (LAPACK geqrf layout) of a uniformly random d×d rotation Q.

    QR of a d×k Gaussian matrix gives Haar-distributed orthonormal columns, but only its reflectors
    matter, and by rotation invariance reflector j is built from a fresh Gaussian vector in R^(d−j)
    (Stewart, 1980). Drawing those directly skips the factorisation. Also returns the signs of R's
    diagonal, by which the caller flips columns (Q·diag(signs) is the sign-fixed, unique factor).
    """
    # Column j's entries from row j down are that Gaussian vector (float32 draws are plenty: any
    # reflector is exactly orthogonal, the draws only pick which one). LAPACK reads only that part.
    generator = torch.Generator().manual_seed(int(seed))
    reflectors = torch.randn(d, k, generator=generator).tril_().double()
    alpha = reflectors.diagonal().clone()
    beta = -torch.copysign(torch.linalg.vector_norm(reflectors, dim=0), alpha)  # LAPACK dlarfg: H·x = beta·e₁
    tau = (beta - alpha) / beta
    reflectors /= alpha - beta
    reflectors.diagonal().copy_(beta)
    return reflectors, tau, torch.sign(beta).numpy()


def _lambda_min_many(kernel: np.ndarray, ms: np.ndarray) -> np.ndarray:
    """λ_min((1 − m)E + m·11ᵀ) for many m from one eigendecomposition of E."""
    return _lambda_min_eig(*np.linalg.eigh(kernel), ms)


def _lambda_min_eig(vals: np.ndarray, vecs: np.ndarray, ms: np.ndarray) -> np.ndarray:
    """λ_min((1 − m)E + m·11ᵀ) for many m, given E = V diag(vals) Vᵀ (see ``lambda_min_measure``)."""
    return lambda_min_measure(vals, (vecs.T @ np.ones(len(vals))) ** 2, ms)

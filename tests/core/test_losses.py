import torch

from core import HAFrameLoss, haframe, load_bundled


def _naive(features, labels, weights, target, alpha, beta):
    """The reference's loops (one cosine per class, soft targets per sample)."""
    ce = torch.nn.functional.cross_entropy(features @ weights.T, labels)
    total = 0.0
    for k in range(len(weights)):
        cos = torch.nn.functional.cosine_similarity(features, weights[k][None].expand_as(features), dim=1)
        total = total + ((cos - target[labels, k]) ** 2)
    return beta * ce + alpha * total.mean()


def test_matches_naive_loops_and_gradients():
    h = load_bundled("synthetic")
    frame = haframe(h.distance_matrix(), gamma=2.0)
    w = torch.tensor(frame.weights)
    s = torch.tensor(frame.target)
    gen = torch.Generator().manual_seed(0)
    features = (2 * torch.randn(32, h.num_classes, generator=gen, dtype=torch.float64)).requires_grad_()
    labels = torch.randint(0, h.num_classes, (32,), generator=gen)
    loss = HAFrameLoss(w, s, alpha=0.4, beta=0.6).double()
    ours = loss(features, labels)
    (grad_ours,) = torch.autograd.grad(ours, features)
    ref = _naive(features, labels, loss.weights, loss.target, 0.4, 0.6)  # the same (float32-stored) frame
    (grad_ref,) = torch.autograd.grad(ref, features)
    assert torch.allclose(ours, ref, atol=1e-12)
    assert torch.allclose(grad_ours, grad_ref, atol=1e-12)
    ce, cos = loss.last_terms
    assert abs(0.6 * ce + 0.4 * cos - ours.item()) < 1e-9


def test_collapsed_features_have_zero_cosine_term():
    frame = haframe(load_bundled("synthetic").distance_matrix())
    labels = torch.arange(frame.num_classes)
    features = 5 * torch.tensor(frame.weights, dtype=torch.float32)[labels]
    loss = HAFrameLoss(frame.weights, frame.target, alpha=1.0, beta=0.0)
    assert float(loss(features, labels)) < 1e-8

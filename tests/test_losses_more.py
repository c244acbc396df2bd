"""The losses and distances of ``_losses_more`` against PyTorch on every device, functional and module forms:
values, shapes and the gradients of every floating-point input for each reduction and option; binary
cross-entropy with ``weight``; exception types for invalid arguments."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import wgtorch
import wgtorch.nn as nn
import wgtorch.nn.functional as F
from tests.helpers import assert_close, rand


def signs(*shape, seed=0):
    return np.where(np.random.default_rng(seed).random(shape) > 0.5, 1.0, -1.0).astype(np.float32)


def positive(*shape, seed=0):
    return rand(*shape, seed=seed, low=0.1, high=3.0)


def probs(*shape, seed=0):
    x = rand(*shape, seed=seed, low=0.05, high=1.0)
    return x / x.sum(-1, keepdims=True)


# name -> (inputs, indices of inputs that get gradients)
CASES = {
    "smooth_l1_loss": (lambda: [rand(4, 5, seed=1), rand(4, 5, seed=2)], (0, 1)),
    "huber_loss": (lambda: [rand(4, 5, seed=1), rand(4, 5, seed=2)], (0, 1)),
    "kl_div": (lambda: [np.log(probs(3, 5, seed=1)), probs(3, 5, seed=2)], (0, 1)),
    "triplet_margin_loss": (lambda: [rand(4, 6, seed=1), rand(4, 6, seed=2), rand(4, 6, seed=3)], (0, 1, 2)),
    "margin_ranking_loss": (lambda: [rand(6, seed=1), rand(6, seed=2), signs(6, seed=3)], (0, 1)),
    "poisson_nll_loss": (lambda: [rand(4, 5, seed=1), positive(4, 5, seed=2) * 2], (0, 1)),
    "cosine_embedding_loss": (lambda: [rand(5, 4, seed=1), rand(5, 4, seed=2), signs(5, seed=3)], (0, 1)),
    "hinge_embedding_loss": (lambda: [rand(4, 5, seed=1), signs(4, 5, seed=2)], (0,)),
    "soft_margin_loss": (lambda: [rand(4, 5, seed=1), signs(4, 5, seed=2)], (0,)),
    "gaussian_nll_loss": (lambda: [rand(4, 5, seed=1), rand(4, 5, seed=2), positive(4, 5, seed=3)], (0, 1, 2)),
}
OPTIONS = {
    "smooth_l1_loss": [{}, {"beta": 0.5}, {"beta": 0.0}, {"beta": 3.0}],
    "huber_loss": [{}, {"delta": 0.3}, {"delta": 2.5}],
    "kl_div": [{}, {"log_target": True}],
    "triplet_margin_loss": [{}, {"margin": 0.5, "p": 1}, {"swap": True}, {"p": 3, "eps": 1e-3}],
    "margin_ranking_loss": [{}, {"margin": 0.7}],
    "poisson_nll_loss": [{}, {"full": True}, {"log_input": False}, {"log_input": False, "full": True}],
    "cosine_embedding_loss": [{}, {"margin": 0.2}],
    "hinge_embedding_loss": [{}, {"margin": 0.5}],
    "soft_margin_loss": [{}],
    "gaussian_nll_loss": [{}, {"full": True}, {"eps": 0.5}],
}
PARAMS = [(name, opts) for name, all_opts in OPTIONS.items() for opts in all_opts]


def compare(device, t_fn, w_fn, arrays, grad_idx, seed=5):
    t_in = [torch.tensor(a, requires_grad=i in grad_idx) for i, a in enumerate(arrays)]
    w_in = [wgtorch.tensor(a, device=device, requires_grad=i in grad_idx) for i, a in enumerate(arrays)]
    t_out, w_out = t_fn(*t_in), w_fn(*w_in)
    assert w_out.dtype is wgtorch.float32
    assert_close(w_out, t_out.detach().numpy(), rtol=1e-4, atol=1e-5)
    up = rand(*t_out.shape, seed=seed)
    t_out.backward(torch.tensor(up))
    w_out.backward(wgtorch.tensor(up, device=device))
    for i in grad_idx:
        assert_close(w_in[i].grad, t_in[i].grad.numpy(), rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("name,opts", PARAMS, ids=[f"{n}-{'-'.join(f'{k}{v}' for k, v in o.items())}"
                                                   for n, o in PARAMS])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_functional(device, name, opts, reduction):
    make, grad_idx = CASES[name]
    arrays = make()
    if name == "kl_div" and opts.get("log_target"):
        arrays[1] = np.log(arrays[1])
    t_fn = getattr(torch.nn.functional, name)
    w_fn = getattr(F, name)
    with warnings.catch_warnings():  # kl_div's 'mean' warns (checked in test_kl_div_reductions)
        warnings.simplefilter("ignore")
        compare(device, lambda *a: t_fn(*a, reduction=reduction, **opts),
                lambda *a: w_fn(*a, reduction=reduction, **opts), arrays, grad_idx)


MODULES = [("SmoothL1Loss", {"beta": 0.5}, "smooth_l1_loss"), ("HuberLoss", {"delta": 0.5}, "huber_loss"),
           ("KLDivLoss", {"reduction": "batchmean"}, "kl_div"), ("TripletMarginLoss", {"swap": True},
                                                                  "triplet_margin_loss"),
           ("MarginRankingLoss", {"margin": 0.3}, "margin_ranking_loss"),
           ("PoissonNLLLoss", {"log_input": False, "full": True}, "poisson_nll_loss"),
           ("CosineEmbeddingLoss", {"margin": 0.1}, "cosine_embedding_loss"),
           ("HingeEmbeddingLoss", {"margin": 2.0, "reduction": "sum"}, "hinge_embedding_loss"),
           ("SoftMarginLoss", {"reduction": "none"}, "soft_margin_loss"),
           ("GaussianNLLLoss", {"full": True}, "gaussian_nll_loss")]


@pytest.mark.parametrize("cls,kwargs,case", MODULES, ids=[m[0] for m in MODULES])
def test_modules(device, cls, kwargs, case):
    make, grad_idx = CASES[case]
    t_mod, w_mod = getattr(torch.nn, cls)(**kwargs), getattr(nn, cls)(**kwargs)
    assert w_mod.reduction == t_mod.reduction
    compare(device, t_mod, w_mod, make(), grad_idx)


def test_kl_div_reductions(device):
    x, t = np.log(probs(4, 5, seed=1)), probs(4, 5, seed=2)
    for red in ["batchmean", "sum", "none"]:
        compare(device, lambda a, b, red=red: torch.nn.functional.kl_div(a, b, reduction=red),
                lambda a, b, red=red: F.kl_div(a, b, reduction=red), [x, t], (0, 1))
    with pytest.warns(UserWarning):
        F.kl_div(wgtorch.tensor(x, device=device), wgtorch.tensor(t, device=device), reduction="mean")
    t0 = t.copy()
    t0[0, :2] = 0.0  # zero targets contribute 0, not NaN
    compare(device, lambda a, b: torch.nn.functional.kl_div(a, b, reduction="sum"),
            lambda a, b: F.kl_div(a, b, reduction="sum"), [x, t0], (0,))


@pytest.mark.parametrize("shapes,dim", [(((4, 5), (4, 5)), 1), (((2, 3, 4), (2, 3, 4)), -1),
                                        (((4, 5), (1, 5)), 1), (((6,), (6,)), 0)])
def test_cosine_similarity(device, shapes, dim):
    a, b = rand(*shapes[0], seed=1), rand(*shapes[1], seed=2)
    compare(device, lambda x, y: torch.nn.functional.cosine_similarity(x, y, dim=dim),
            lambda x, y: F.cosine_similarity(x, y, dim=dim), [a, b], (0, 1))
    compare(device, torch.nn.CosineSimilarity(dim, eps=1e-3), nn.CosineSimilarity(dim, eps=1e-3), [a, b], (0, 1))


def test_cosine_similarity_zero_vector(device):
    """A zero row: cosine 0, and torch's gradient (y / eps), not NaN."""
    a, b = rand(3, 4, seed=1), rand(3, 4, seed=2)
    a[1] = 0.0
    compare(device, lambda x, y: torch.nn.functional.cosine_similarity(x, y, eps=1e-2),
            lambda x, y: F.cosine_similarity(x, y, eps=1e-2), [a, b], (0, 1))


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, float("inf")])
@pytest.mark.parametrize("keepdim", [False, True])
def test_pairwise_distance(device, p, keepdim):
    a, b = rand(5, 4, seed=1), rand(5, 4, seed=2)
    compare(device, lambda x, y: torch.nn.functional.pairwise_distance(x, y, p=p, keepdim=keepdim),
            lambda x, y: F.pairwise_distance(x, y, p=p, keepdim=keepdim), [a, b], (0, 1))
    compare(device, torch.nn.PairwiseDistance(p, keepdim=keepdim), nn.PairwiseDistance(p, keepdim=keepdim),
            [a[0], b[0]], (0, 1))


def test_gaussian_nll_var_shapes(device):
    x, t = rand(4, 3, seed=1), rand(4, 3, seed=2)
    for var in [positive(4, seed=3), positive(4, 1, seed=3)]:
        compare(device, torch.nn.functional.gaussian_nll_loss, F.gaussian_nll_loss, [x, t, var], (0, 1, 2))
    t_out = torch.nn.functional.gaussian_nll_loss(torch.tensor(x), torch.tensor(t), 0.5)
    w_out = F.gaussian_nll_loss(wgtorch.tensor(x, device=device), wgtorch.tensor(t, device=device), 0.5)
    assert_close(w_out, t_out.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_huber_weight(device, reduction):
    compare(device, lambda a, b, w: torch.nn.functional.huber_loss(a, b, reduction, 0.7, weight=w),
            lambda a, b, w: F.huber_loss(a, b, reduction, 0.7, weight=w),
            [rand(4, 5, seed=1), rand(4, 5, seed=2), positive(4, 5, seed=3)], (0, 1, 2))
    with pytest.raises(ValueError):
        F.huber_loss(wgtorch.zeros(4, 5, device=device), wgtorch.zeros(4, 5, device=device),
                     weight=wgtorch.ones(5, device=device))


def test_unbatched_embedding_losses(device):
    compare(device, torch.nn.functional.cosine_embedding_loss, F.cosine_embedding_loss,
            [rand(4, seed=1), rand(4, seed=2), np.float32(-1.0)], (0, 1))
    compare(device, torch.nn.functional.triplet_margin_loss, F.triplet_margin_loss,
            [rand(4, seed=1), rand(4, seed=2), rand(4, seed=3)], (0, 1, 2))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy_weight(device, reduction):
    x, t = rand(4, 3, seed=1, low=0.05, high=0.95), rand(4, 3, seed=2, low=0.0, high=1.0)
    for w in [positive(4, 3, seed=3), positive(3, seed=4)]:
        compare(device, lambda a, b, c: torch.nn.functional.binary_cross_entropy(a, b, c, reduction=reduction),
                lambda a, b, c: F.binary_cross_entropy(a, b, c, reduction=reduction), [x, t, w], (0,))
    compare(device, torch.nn.BCELoss(torch.tensor(positive(3, seed=5))),
            nn.BCELoss(wgtorch.tensor(positive(3, seed=5), device=device)), [x, t], (0,))


def test_errors(device):
    a = wgtorch.tensor(rand(4, 5, seed=1), device=device)
    with pytest.raises(RuntimeError):
        F.smooth_l1_loss(a, a, beta=-1.0)
    with pytest.raises(RuntimeError):
        F.huber_loss(a, a, delta=0.0)
    with pytest.raises(ValueError):
        F.huber_loss(a, a, reduction="avg")
    with pytest.raises(ValueError):
        F.kl_div(a, a, reduction="median")
    with pytest.raises(RuntimeError):  # dims differ
        F.triplet_margin_loss(a, a, a[0])
    with pytest.raises(ValueError):
        F.triplet_margin_loss(a, a, a, margin=0.0)
    with pytest.raises(ValueError):
        nn.TripletMarginLoss(margin=-1.0)
    with pytest.raises(RuntimeError):
        F.margin_ranking_loss(a[0], a[0], a)
    with pytest.raises(RuntimeError):
        F.cosine_embedding_loss(a, a, a)
    with pytest.raises(ValueError):
        F.gaussian_nll_loss(a, a, wgtorch.ones(3, device=device))
    with pytest.raises(ValueError):
        F.gaussian_nll_loss(a, a, -wgtorch.ones(4, 5, device=device))
    with pytest.raises(RuntimeError):
        F.cosine_similarity(a, wgtorch.ones(3, 2, device=device))
    with pytest.warns(UserWarning):
        F.smooth_l1_loss(a, a[0])

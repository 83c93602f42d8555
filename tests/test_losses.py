"""Cross-entropy written out agrees with PyTorch and with autograd."""

import pytest
import torch
import torch.nn.functional as F

from tlbook.losses import (
    cross_entropy,
    cross_entropy_grad,
    one_vs_rest_bce,
    smoothed_targets,
    softmax,
)


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    return torch.randn(8, 10, generator=g) * 3, torch.randint(0, 10, (8,), generator=g)


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_matches_pytorch(batch, eps):
    z, y = batch
    assert torch.allclose(
        cross_entropy(z, y, smoothing=eps),
        F.cross_entropy(z, y, label_smoothing=eps),
        atol=1e-6,
    )


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_gradient_is_p_minus_target(batch, eps):
    z, y = batch
    z = z.clone().requires_grad_(True)
    F.cross_entropy(z, y, label_smoothing=eps).backward()
    assert torch.allclose(
        z.grad, cross_entropy_grad(z.detach(), y, smoothing=eps), atol=1e-6
    )


def test_softmax_is_stable_and_normalised(batch):
    z, _ = batch
    assert torch.allclose(softmax(z), torch.softmax(z, 1), atol=1e-6)
    assert torch.isfinite(softmax(z * 1e4)).all()


def test_fresh_head_starts_near_log_k():
    z = torch.zeros(4, 10)
    assert cross_entropy(z, torch.arange(4)).item() == pytest.approx(
        torch.log(torch.tensor(10.0)).item()
    )


def test_binary_formula_is_a_different_loss(batch):
    z, y = batch
    bce = one_vs_rest_bce(z, y)
    assert torch.allclose(
        bce,
        F.binary_cross_entropy_with_logits(z, F.one_hot(y, 10).float()) * 10,
        atol=1e-5,
    )
    assert not torch.allclose(bce, cross_entropy(z, y))


def test_smoothed_targets_sum_to_one():
    t = smoothed_targets(torch.tensor([0, 3]), 5, 0.3)
    assert torch.allclose(t.sum(1), torch.ones(2)) and t[0, 0] == pytest.approx(0.76)

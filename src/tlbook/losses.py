"""Cross-entropy written out, as chapter 4 derives it.

PyTorch's ``F.cross_entropy`` is what training uses; these functions spell
the same mathematics out in a few lines each so that the chapter can check
them against autograd and against each other:

* :func:`softmax` and :func:`cross_entropy` -- ``L = -(1/N) sum_i log p_{i, y_i}``;
* :func:`cross_entropy_grad` -- its gradient with respect to the logits,
  ``(p - onehot(y)) / N``;
* :func:`smoothed_targets` -- label smoothing as a mixture of the one-hot
  target and the uniform distribution;
* :func:`one_vs_rest_bce` -- the *binary* formula the source document
  writes, applied to each class with a sigmoid: a different loss.

>>> z = torch.tensor([[2.0, 0.0, -1.0]]); y = torch.tensor([0])
>>> round(float(cross_entropy(z, y)), 4) == round(float(torch.nn.functional.cross_entropy(z, y)), 4)
True
"""

from __future__ import annotations

import torch

__all__ = [
    "softmax",
    "cross_entropy",
    "cross_entropy_grad",
    "smoothed_targets",
    "one_vs_rest_bce",
]


def softmax(logits: torch.Tensor) -> torch.Tensor:
    """Probabilities ``(N, K)`` from logits ``(N, K)``, computed stably.

    Subtracting each row's maximum changes nothing mathematically
    (softmax is shift-invariant) and keeps ``exp`` from overflowing.

    >>> softmax(torch.tensor([[1000.0, 1000.0]]))
    tensor([[0.5000, 0.5000]])
    """
    shifted = logits - logits.max(dim=1, keepdim=True).values  # (N, K), max 0 per row
    e = shifted.exp()
    return e / e.sum(dim=1, keepdim=True)


def smoothed_targets(
    labels: torch.Tensor, num_classes: int, smoothing: float = 0.0
) -> torch.Tensor:
    """Target distributions ``(N, K)``: ``(1 - eps) * onehot(y) + eps / K``.

    >>> smoothed_targets(torch.tensor([1]), 4, 0.2)
    tensor([[0.0500, 0.8500, 0.0500, 0.0500]])
    """
    onehot = torch.nn.functional.one_hot(labels, num_classes).float()  # (N, K)
    return (1.0 - smoothing) * onehot + smoothing / num_classes


def cross_entropy(
    logits: torch.Tensor, labels: torch.Tensor, *, smoothing: float = 0.0
) -> torch.Tensor:
    """Mean categorical cross-entropy ``-(1/N) sum_i sum_k t_ik log p_ik`` (a scalar).

    With ``smoothing=0`` the target ``t`` is one-hot and this is
    ``-(1/N) sum_i log p_{i, y_i}``: the loss ``nn.CrossEntropyLoss`` computes.
    """
    log_p = logits - torch.logsumexp(logits, dim=1, keepdim=True)  # (N, K) log-softmax
    t = smoothed_targets(labels, logits.shape[1], smoothing)
    return -(t * log_p).sum(dim=1).mean()


def cross_entropy_grad(
    logits: torch.Tensor, labels: torch.Tensor, *, smoothing: float = 0.0
) -> torch.Tensor:
    """Gradient of :func:`cross_entropy` with respect to the logits: ``(p - t) / N``.

    >>> z = torch.zeros(1, 2); cross_entropy_grad(z, torch.tensor([0]))
    tensor([[-0.5000,  0.5000]])
    """
    t = smoothed_targets(labels, logits.shape[1], smoothing)
    return (softmax(logits) - t) / logits.shape[0]


def one_vs_rest_bce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The source's ``-[y log y_hat + (1 - y) log(1 - y_hat)]``, summed over classes, mean over images.

    Each class gets its own sigmoid ``y_hat_k = sigmoid(z_k)`` and its own
    yes/no question; the probabilities need not sum to one. This is what
    ``nn.BCEWithLogitsLoss`` on one-hot targets computes (times ``K``), not
    what ``nn.CrossEntropyLoss`` computes.
    """
    y = torch.nn.functional.one_hot(labels, logits.shape[1]).float()  # (N, K)
    # log(sigmoid(z)) = -softplus(-z);  log(1 - sigmoid(z)) = -softplus(z)
    per_class = y * torch.nn.functional.softplus(-logits) + (
        1 - y
    ) * torch.nn.functional.softplus(logits)
    return per_class.sum(dim=1).mean()

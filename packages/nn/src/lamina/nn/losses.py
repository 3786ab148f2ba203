"""Loss functions with torch's semantics: cross entropy (class indices or probabilities, class weights,
label smoothing, ignore_index), negative log likelihood, mean squared and absolute error, smooth L1 and
Huber, KL divergence, binary cross entropy and the cosine embedding loss.

Class-index targets are turned into one-hot masks (an index outside [0, C), such as the default
ignore_index of -100, matches no class), so every loss is a fused elementwise-and-reduce graph.
The class dim is dim 1 for inputs of two or more dims, as in torch.
"""

from __future__ import annotations

from typing import Final, Literal

from lamina.tensor import Tensor

Reduction = Literal["none", "mean", "sum"]
_REDUCTIONS: Final = ("none", "mean", "sum")


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def reduce_loss(loss: Tensor, reduction: Reduction) -> Tensor:
    """Apply `reduction` ("none", "mean" or "sum") to elementwise losses."""
    _check_reduction(reduction)
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.mean()


def _classes_last(values: Tensor) -> Tensor:
    # (N, C, d1, ...) -> (N, d1, ..., C): classes last, so every loss reduces over dim -1.
    if values.ndim <= 2:
        return values
    return values.permute((0, *range(2, values.ndim), 1))


def _index_loss(
    log_probs: Tensor,
    target: Tensor,
    reduction: Reduction,
    ignore_index: int,
    label_smoothing: float,
    weight: Tensor | None = None,
) -> Tensor:
    # log_probs has its classes last; target holds class indices with log_probs' other dims.
    _check_reduction(reduction)
    if target.dtype.is_float or target.dtype.is_bool:
        raise TypeError(f"class-index targets must be an integer tensor, got {target.dtype}")
    if target.shape != log_probs.shape[:-1]:
        raise ValueError(f"target of shape {target.shape} does not match input positions {log_probs.shape[:-1]}")
    classes = log_probs.shape[-1]
    keep = target.ne(ignore_index)
    # Every target but ignore_index must be a class (torch raises IndexError for the others).
    hot = target.where(keep, 0).one_hot_for("cross_entropy target", classes, dim=log_probs.ndim - 1)
    hot = hot.cast(log_probs.dtype)
    if weight is not None and weight.shape != (classes,):
        raise ValueError(f"class weights need shape ({classes},), got {weight.shape}")
    weighted = log_probs if weight is None else log_probs * weight.cast(log_probs.dtype)
    loss = -(weighted * hot).sum(-1)
    if label_smoothing:
        smooth = -weighted.sum(-1) / classes
        loss = loss * (1 - label_smoothing) + smooth * label_smoothing
    loss = loss.where(keep, 0.0)
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "sum":
        return total
    # The mean divides by the targets' total weight (their count without weights), as torch's does.
    target_weights = keep.cast(loss.dtype) if weight is None else (hot * weight.cast(loss.dtype)).sum(-1)
    return total / target_weights.where(keep, 0.0).sum()


def nll_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    *,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
) -> Tensor:
    """Negative log likelihood of class indices `target` under log-probabilities `input` (classes in dim 1)."""
    if input.ndim == 1:
        loss = nll_loss(
            input.unsqueeze(0), target.reshape((1,)), weight, ignore_index=ignore_index, reduction=reduction
        )
        return loss.reshape(()) if reduction == "none" else loss
    return _index_loss(_classes_last(input), target, reduction, ignore_index, 0.0, weight)


def cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    *,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross entropy of logits `input` (classes in dim 1) against class indices or class probabilities; `weight`
    is torch's third argument, the rest keywords (torch's deprecated size_average and reduce sit between)."""
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
    if input.ndim == 1:
        target = target.unsqueeze(0) if target.dtype.is_float else target.reshape((1,))
        loss = cross_entropy(
            input.unsqueeze(0),
            target,
            weight,
            ignore_index=ignore_index,
            reduction=reduction,
            label_smoothing=label_smoothing,
        )
        return loss.reshape(()) if reduction == "none" else loss
    log_probs = _classes_last(input).log_softmax(-1)
    if not target.dtype.is_float:
        return _index_loss(log_probs, target, reduction, ignore_index, label_smoothing, weight)
    if target.shape != input.shape:
        raise ValueError(f"probability targets need the input's shape {input.shape}, got {target.shape}")
    probabilities = _classes_last(target)
    classes = input.shape[1]
    if label_smoothing:
        probabilities = probabilities * (1 - label_smoothing) + label_smoothing / classes
    if weight is not None:
        if weight.shape != (classes,):
            raise ValueError(f"class weights need shape ({classes},), got {weight.shape}")
        log_probs = log_probs * weight.cast(log_probs.dtype)
    return reduce_loss(-(log_probs * probabilities).sum(-1), reduction)


def mse_loss(input: Tensor, target: Tensor, reduction: Reduction = "mean") -> Tensor:
    """Squared error (input - target)**2, reduced."""
    difference = input - target
    return reduce_loss(difference * difference, reduction)


def binary_cross_entropy(input: Tensor, target: Tensor, reduction: Reduction = "mean") -> Tensor:
    """Binary cross entropy of probabilities `input`; logs are clamped at -100 like torch."""
    log_p = input.log().maximum(-100.0)
    log_not_p = (1 - input).log().maximum(-100.0)
    return reduce_loss(-(target * log_p + (1 - target) * log_not_p), reduction)


def binary_cross_entropy_with_logits(
    input: Tensor, target: Tensor, reduction: Reduction = "mean", pos_weight: Tensor | None = None
) -> Tensor:
    """Binary cross entropy of sigmoid(input), computed stably from the logits."""
    # log(1 + exp(-|x|)) + max(-x, 0) is -log(sigmoid(x)) without overflow for any x.
    neg_log_sigmoid = (-input.abs()).exp().add(1).log() + (-input).maximum(0.0)
    if pos_weight is None:
        return reduce_loss((1 - target) * input + neg_log_sigmoid, reduction)
    weight = (pos_weight - 1) * target + 1
    return reduce_loss((1 - target) * input + weight * neg_log_sigmoid, reduction)


def l1_loss(input: Tensor, target: Tensor, reduction: Reduction = "mean") -> Tensor:
    return reduce_loss((input - target).abs(), reduction)


def smooth_l1_loss(input: Tensor, target: Tensor, reduction: Reduction = "mean", beta: float = 1.0) -> Tensor:
    """0.5 d^2 / beta where |d| < beta, |d| - beta / 2 elsewhere (beta = 0: the L1 loss)."""
    if beta < 0:
        raise ValueError(f"smooth_l1_loss needs beta >= 0, got {beta}")
    distance = (input - target).abs()
    if beta == 0:
        return reduce_loss(distance, reduction)
    return reduce_loss(distance.lt(beta)._select(0.5 * distance * distance / beta, distance - 0.5 * beta), reduction)


def huber_loss(input: Tensor, target: Tensor, reduction: Reduction = "mean", delta: float = 1.0) -> Tensor:
    """0.5 d^2 where |d| <= delta, delta * (|d| - delta / 2) elsewhere."""
    if delta <= 0:
        raise ValueError(f"huber_loss needs delta > 0, got {delta}")
    distance = (input - target).abs()
    return reduce_loss(
        distance.le(delta)._select(0.5 * distance * distance, delta * (distance - 0.5 * delta)), reduction
    )


def kl_div(input: Tensor, target: Tensor, reduction: str = "mean", log_target: bool = False) -> Tensor:
    """KL(target || exp(input)) pointwise, input holding log-probabilities: target * (log target - input), 0
    where target is 0; reduction "batchmean" divides the sum by the batch size (the true KL divergence)."""
    if log_target:
        pointwise = target.exp() * (target - input)
    else:
        pointwise = target.gt(0)._select(target * (target.log() - input), 0.0 * input)
    if reduction == "batchmean":
        return pointwise.sum() / (input.shape[0] if input.ndim else 1)
    return reduce_loss(pointwise, reduction)  # type: ignore[arg-type]


def cosine_embedding_loss(
    input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0, reduction: Reduction = "mean"
) -> Tensor:
    """1 - cos(x1, x2) where target is 1, max(0, cos(x1, x2) - margin) where it is -1 (cos over the last dim)."""
    product = (input1 * input2).sum(-1)
    # torch's guard: each squared magnitude plus 1e-12 before the root.
    cosine = product / ((input1 * input1).sum(-1) + 1e-12).sqrt() / ((input2 * input2).sum(-1) + 1e-12).sqrt()
    loss = target.eq(1)._select(1 - cosine, (cosine - margin).maximum(0.0))
    return reduce_loss(loss, reduction)

"""DiceBCELoss, the talk's training loss (slide 14): binary cross-entropy plus Dice loss.

Both terms count only the cells the caller marks (water cells with data; land and no-data
cells are left out). BCE is the mean over those cells. The Dice term is the soft Dice of the
whole batch taken as one set of cells, 1 - (2 sum(p t) + s) / (sum(p) + sum(t) + s), with
smoothing s = 1 cell (the usual DiceBCELoss), so a batch without ice does not divide by zero
and still pushes the probabilities towards 0.

The loss is made of five sums over cells (`dice_bce_sums`), which add up across batches, so
the loss of a whole split is the same figure whatever the batch size (`loss_from_sums`). The
mean of per-batch losses is not: a batch of ice-free scenes has a Dice term near 1 however
good the model is, so that mean depends on how the split falls into batches.
"""

from __future__ import annotations

import torch
from torch.nn import functional

DICE_SMOOTH = 1.0


def dice_bce_sums(logits: torch.Tensor, target: torch.Tensor,
                  weight: torch.Tensor) -> torch.Tensor:
    """(BCE sum, counted cells, sum p t, sum p, sum t) over the cells where `weight` is 1.

    All three inputs have the same shape; float32 whatever the autocast dtype.
    """
    logits, target, weight = logits.float(), target.float(), weight.float()
    bce = functional.binary_cross_entropy_with_logits(
        logits, target, weight=weight, reduction="sum"
    )
    probability = torch.sigmoid(logits) * weight
    truth = target * weight
    return torch.stack([bce, weight.sum(), (probability * truth).sum(), probability.sum(),
                        truth.sum()])


def loss_from_sums(sums: torch.Tensor, smooth: float = DICE_SMOOTH) -> torch.Tensor:
    """Dice+BCE from `dice_bce_sums` (of one batch, or added up over many)."""
    bce, counted, overlap, probability, truth = sums
    dice = 1 - (2 * overlap + smooth) / (probability + truth + smooth)
    return bce / counted.clamp_min(1.0) + dice

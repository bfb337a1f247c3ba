"""DiceBCELoss, the talk's training loss (slide 14): binary cross-entropy plus Dice loss.

Both terms count only the cells the caller marks (water cells with data; land and no-data
cells are left out). BCE is the mean over those cells. The Dice term is the soft Dice of the
whole batch taken as one set of cells, 1 - (2 sum(p t) + s) / (sum(p) + sum(t) + s), with
smoothing s = 1 cell (the usual DiceBCELoss), so a batch without ice does not divide by zero
and still pushes the probabilities towards 0.
"""

from __future__ import annotations

import torch
from torch.nn import functional

DICE_SMOOTH = 1.0


def dice_bce_loss(
    logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, smooth: float = DICE_SMOOTH
) -> torch.Tensor:
    """BCE + Dice of `logits` against `target` (1 = ice) over cells where `weight` is 1.

    All three have the same shape; computed in float32 whatever the autocast dtype.
    """
    logits, target, weight = logits.float(), target.float(), weight.float()
    counted = weight.sum().clamp_min(1.0)
    bce = functional.binary_cross_entropy_with_logits(
        logits, target, weight=weight, reduction="sum"
    )
    probability = torch.sigmoid(logits) * weight
    truth = target * weight
    overlap = (probability * truth).sum()
    dice = 1 - (2 * overlap + smooth) / (probability.sum() + truth.sum() + smooth)
    return bce / counted + dice

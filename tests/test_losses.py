import math

import pytest
import torch

from training.losses import DICE_SMOOTH, dice_bce_sums, loss_from_sums
from training.metrics import Confusion, confusion


def dice_bce_loss(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The loss of one batch, as `training.train.training_step` computes it."""
    return loss_from_sums(dice_bce_sums(logits, target, weight))


def test_dice_bce_against_a_hand_computed_case():
    # probabilities 0.5 and 0.75 against truth 1 and 0; the third cell is not counted
    logits = torch.tensor([0.0, math.log(3.0), 5.0])
    target = torch.tensor([1.0, 0.0, 1.0])
    weight = torch.tensor([1.0, 1.0, 0.0])
    bce = (-math.log(0.5) - math.log(0.25)) / 2
    dice = 1 - (2 * 0.5 + 1) / ((0.5 + 0.75) + 1 + 1)
    assert DICE_SMOOTH == 1.0
    assert dice_bce_loss(logits, target, weight).item() == pytest.approx(bce + dice, rel=1e-6)


def test_no_ice_and_confident_water_gives_almost_no_loss():
    logits = torch.full((2, 5, 5), -20.0)
    zeros = torch.zeros(2, 5, 5)
    assert dice_bce_loss(logits, zeros, torch.ones(2, 5, 5)).item() < 1e-6


def test_uncounted_cells_do_not_change_the_loss():
    logits = torch.randn(1, 8, 8)
    target = (torch.rand(1, 8, 8) > 0.5).float()
    weight = torch.ones(1, 8, 8)
    weight[0, :2] = 0
    changed = logits.clone()
    changed[0, :2] = 99.0
    assert dice_bce_loss(logits, target, weight) == dice_bce_loss(changed, target, weight)


def test_sums_of_batches_give_the_loss_of_the_whole_set():
    generator = torch.Generator().manual_seed(0)
    target = torch.zeros(4, 6, 6)
    target[:2] = (torch.rand(2, 6, 6, generator=generator) > 0.5).float()  # two ice-free scenes
    logits = 3 * (2 * target - 1) + torch.randn(4, 6, 6, generator=generator)  # a good model
    weight = (torch.rand(4, 6, 6, generator=generator) > 0.2).float()
    whole = dice_bce_loss(logits, target, weight)
    batches = [dice_bce_sums(logits[i:i + 1], target[i:i + 1], weight[i:i + 1]) for i in range(4)]
    assert loss_from_sums(sum(batches)).item() == pytest.approx(whole.item(), rel=1e-6)
    mean_of_batches = sum(loss_from_sums(b) for b in batches) / 4
    assert mean_of_batches.item() > whole.item() + 0.1  # what a per-batch mean would report


def test_loss_gradient_flows_in_float32_under_half_inputs():
    logits = torch.zeros(1, 4, 4, dtype=torch.bfloat16, requires_grad=True)
    loss = dice_bce_loss(logits, torch.ones(1, 4, 4), torch.ones(1, 4, 4))
    assert loss.dtype == torch.float32
    loss.backward()
    assert (logits.grad < 0).all()


def test_confusion_counts_and_scores():
    predicted = torch.tensor([True, True, False, False, True, False])
    truth = torch.tensor([True, False, True, False, True, True])
    counted = torch.tensor([True, True, True, True, True, False])
    c = confusion(predicted, truth, counted)
    assert c == Confusion(tp=2, fp=1, fn=1, tn=1)
    assert (c.accuracy, c.iou, c.precision, c.recall) == (3 / 5, 2 / 4, 2 / 3, 2 / 3)
    assert c + c == Confusion(4, 2, 2, 2)
    assert math.isnan(Confusion(tn=5).iou) and Confusion(tn=5).accuracy == 1.0

"""Confusion counts of the ice class and the scores derived from them.

Scores are pooled over all counted cells of a split (the talk's accuracy and IoU), not averaged
per scene: ice usually covers a small part of the bay, and per-scene IoU is undefined on the
many scenes without ice. A score whose denominator is zero is NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

Mask = torch.Tensor | np.ndarray


@dataclass(frozen=True)
class Confusion:
    """Cell counts: true/false positives/negatives of the ice class."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def __add__(self, other: Confusion) -> Confusion:
        return Confusion(
            self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn
        )

    @property
    def cells(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    @property
    def accuracy(self) -> float:
        return _ratio(self.tp + self.tn, self.cells)

    @property
    def iou(self) -> float:
        return _ratio(self.tp, self.tp + self.fp + self.fn)

    @property
    def precision(self) -> float:
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        return _ratio(self.tp, self.tp + self.fn)

    def scores(self) -> dict[str, float]:
        """Accuracy, IoU, precision and recall."""
        return {
            "accuracy": self.accuracy,
            "iou": self.iou,
            "precision": self.precision,
            "recall": self.recall,
        }


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else math.nan


def confusion(predicted: Mask, truth: Mask, counted: Mask) -> Confusion:
    """Counts over cells where `counted` is True; all three are bool arrays (torch or numpy)
    of one shape."""
    p, t = predicted & counted, truth & counted
    tp = int((p & t).sum())
    fp = int(p.sum()) - tp
    fn = int(t.sum()) - tp
    return Confusion(tp, fp, fn, int(counted.sum()) - tp - fp - fn)

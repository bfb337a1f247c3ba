"""SSegm M21.1 and M20.1: the talk's two small segmentation CNNs (seed.md, slides 12-14).

Both take raw L1B reflectance (N, 7, 285, 430) that may hold NaN, fill NaN with the band mean
and normalise with buffers inside the module (so an exported graph takes raw reader output),
and return ice LOGITS (N, 1, 285, 430); the sigmoid belongs to the loss and to the export.

The talk's diagram of M21.1, as reconstructed (every shape of seed.md's table holds; the
search that settles the ambiguous parts is ``training/scripts/search_architecture.py``):

    L1    Conv2d 3x3 valid, BatchNorm2d, GELU                 7 -> 64    (64, 283, 428)
          split: 48 channels on to L2, 16 aside to L12y
    L2    Conv2d 3x3, BatchNorm2d, MaxPool2d 2x2, GELU       48 -> 48    (48, 140, 213)
    L3    Conv2d 3x3, BatchNorm2d, MaxPool2d 2x2, GELU       48 -> 48    (48,  69, 105)
          split: 32 channels on to L4, 16 aside to L11z
    L4    Conv2d 3x3, BatchNorm2d, MaxPool2d 2x2, GELU       32 -> 64    (64,  33,  51)
    L5    Conv2d 3x3, BatchNorm2d, MaxPool2d 2x2, GELU       64 -> 64    (64,  15,  24)
    L6    Conv2d 3x3, BatchNorm2d, GELU                      64 -> 64    (64,  13,  22)
    L7    ConvTranspose2d 5x5 stride 2, BatchNorm2d, GELU    64 -> 64    (64,  29,  47)
    L8    ConvTranspose2d 5x5 stride 1, BatchNorm2d, GELU    64 -> 32    (32,  33,  51)
    L9    ConvTranspose2d 3x3 stride 2, BatchNorm2d, GELU    32 -> 16    (16,  67, 103)
    L10   ConvTranspose2d 3x3, BatchNorm2d, GELU             16 ->  8    ( 8,  69, 105)
    L11   ConvTranspose2d 5x5 stride 2, BatchNorm2d, GELU     8 ->  4    ( 4, 141, 213)
    L11z  ConvTranspose2d 5x5 stride 2, BatchNorm2d, GELU    16 ->  4    ( 4, 141, 213)
          x11 + z11                                                      ( 4, 141, 213)
    L12   ConvTranspose2d (5, 6) stride 2                     4 ->  1    ( 1, 285, 430)
    L12y  ConvTranspose2d 3x3, BatchNorm2d, GELU             16 ->  1    ( 1, 285, 430)
          x12 + y12 -> logits (sigmoid outside)                          ( 1, 285, 430)

Choices where the talk is ambiguous, each forced by the exact count of 301,132 trainable
parameters together with the fixed shapes (all convolutions with bias, BatchNorm affine):
- L4 widens to 64 and L5 takes all of it; there is no skip from L4 to the decoder (a skip
  added to L8's 32 channels would need L4 at 32, and any such reading misses the count).
- L9 is a 3x3 stride-2 transposed convolution without padding: (33-1)*2+3 = 67 and
  (51-1)*2+3 = 103 exactly. The legend groups L9 with the 5x5 stride-2 layers; a 5x5 kernel
  would need padding 1 and gives 309,324 parameters (8,192 = 32*16*(25-9) too many), and no
  reading of the other widths with a 5x5 L9 reaches 301,132 with round widths.
- The skips merge by addition (x11 + z11 as x12 + y12 in the legend), so L12 takes the 4
  channels of L11; the OCR's L12 input "(?, 1 ...)" is read as the garbled 4 of L11's output.
- L12 has no BatchNorm and no GELU (the legend lists only the convolution); L12y has both.

SSegm M20.1 (115,980 parameters; no diagram in the talk) is the same family, narrower:
L1 24 (16 on, 8 aside), L2 and L3 24 (16 on, 8 aside), L4-L7 40, L8 24, L9 16, L10 8, L11 4,
L11z 4. Of the narrower width sets that hit the count exactly (same search script), it has the
fewest distinct widths: a 24-wide encoder, a 40-wide bottleneck, a halving decoder.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from runtime import grid
from training.architectures import ARCHITECTURES, Widths

N_BANDS = len(grid.BANDS)


def conv_block(cin: int, cout: int, pool: bool) -> nn.Sequential:
    """Conv2d 3x3 valid, BatchNorm2d, [MaxPool2d 2x2], GELU (legend of L1-L6)."""
    layers = [nn.Conv2d(cin, cout, 3), nn.BatchNorm2d(cout)]
    if pool:
        layers.append(nn.MaxPool2d(2))
    layers.append(nn.GELU())
    return nn.Sequential(*layers)


def up_block(cin: int, cout: int, kernel: int, stride: int = 1) -> nn.Sequential:
    """ConvTranspose2d without padding, BatchNorm2d, GELU (legend of L7-L12y)."""
    return nn.Sequential(
        nn.ConvTranspose2d(cin, cout, kernel, stride=stride), nn.BatchNorm2d(cout), nn.GELU()
    )


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters, counted as the talk does."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


class SSegm(nn.Module):
    """The SSegm network for one set of widths; forward returns logits."""

    def __init__(self, widths: Widths, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        w = widths
        self.widths = w
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))
        self.l1 = conv_block(N_BANDS, w.l1, pool=False)
        self.l2 = conv_block(w.l1 - w.l1_aside, w.l2, pool=True)
        self.l3 = conv_block(w.l2, w.l3, pool=True)
        self.l4 = conv_block(w.l3 - w.l3_aside, w.l4, pool=True)
        self.l5 = conv_block(w.l4, w.l5, pool=True)
        self.l6 = conv_block(w.l5, w.l6, pool=False)
        self.l7 = up_block(w.l6, w.l7, 5, stride=2)
        self.l8 = up_block(w.l7, w.l8, 5)
        self.l9 = up_block(w.l8, w.l9, 3, stride=2)
        self.l10 = up_block(w.l9, w.l10, 3)
        self.l11 = up_block(w.l10, w.l11, 5, stride=2)
        self.l11z = up_block(w.l3_aside, w.l11, 5, stride=2)
        self.l12 = nn.ConvTranspose2d(w.l11, 1, (5, 6), stride=2)
        self.l12y = up_block(w.l1_aside, 1, 3)

    def normalise(self, reflectance: torch.Tensor) -> torch.Tensor:
        """NaN (no data) becomes the band mean, then (x - mean) / std: NaN cells end up 0."""
        filled = torch.where(torch.isnan(reflectance), self.mean, reflectance)
        return (filled - self.mean) / self.std

    def intermediates(self, reflectance: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every named tensor of the talk's diagram, in order; the last one is the logits."""
        w = self.widths
        t: dict[str, torch.Tensor] = {"input": self.normalise(reflectance)}
        t["L1"] = self.l1(t["input"])
        t["L1 -> L2"], t["L1 -> L12y"] = torch.split(t["L1"], [w.l1 - w.l1_aside, w.l1_aside], 1)
        t["L2"] = self.l2(t["L1 -> L2"])
        t["L3"] = self.l3(t["L2"])
        t["L3 -> L4"], t["L3 -> L11z"] = torch.split(t["L3"], [w.l3 - w.l3_aside, w.l3_aside], 1)
        t["L4"] = self.l4(t["L3 -> L4"])
        t["L5"] = self.l5(t["L4"])
        t["L6"] = self.l6(t["L5"])
        t["L7"] = self.l7(t["L6"])
        t["L8"] = self.l8(t["L7"])
        t["L9"] = self.l9(t["L8"])
        t["L10"] = self.l10(t["L9"])
        t["L11"] = self.l11(t["L10"])
        t["L11z"] = self.l11z(t["L3 -> L11z"])
        t["x11 + z11"] = t["L11"] + t["L11z"]
        t["L12"] = self.l12(t["x11 + z11"])
        t["L12y"] = self.l12y(t["L1 -> L12y"])
        t["x12 + y12"] = t["L12"] + t["L12y"]
        return t

    def forward(self, reflectance: torch.Tensor) -> torch.Tensor:
        """Logits (N, 1, 285, 430) of raw reflectance (N, 7, 285, 430) with NaN."""
        return self.intermediates(reflectance)["x12 + y12"]


def build_model(
    name: str, mean: Sequence[float] | None = None, std: Sequence[float] | None = None
) -> SSegm:
    """The named architecture; normalisation defaults to identity (mean 0, std 1)."""
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {name!r} (known: {', '.join(ARCHITECTURES)})")
    mean = [0.0] * N_BANDS if mean is None else list(mean)
    std = [1.0] * N_BANDS if std is None else list(std)
    if len(mean) != N_BANDS or len(std) != N_BANDS:
        raise ValueError(f"mean and std need {N_BANDS} values, one per band")
    return SSegm(ARCHITECTURES[name], mean, std)

"""The SSegm architectures by name: their layer widths and the talk's parameter counts.

Kept apart from ``training.models`` (which documents and builds them with PyTorch) so that the
command line can list and check architecture names without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Widths:
    """Output channels of every layer; `*_aside` channels of L1/L3 go to L12y/L11z."""

    l1: int
    l1_aside: int
    l2: int
    l3: int
    l3_aside: int
    l4: int
    l5: int
    l6: int
    l7: int
    l8: int
    l9: int
    l10: int
    l11: int


ARCHITECTURES: dict[str, Widths] = {
    "m21.1": Widths(64, 16, 48, 48, 16, 64, 64, 64, 64, 32, 16, 8, 4),
    "m20.1": Widths(24, 8, 24, 24, 8, 40, 40, 40, 40, 24, 16, 8, 4),
}

#: Trainable parameters quoted by the talk (slide 14).
PARAMETER_COUNTS = {"m21.1": 301_132, "m20.1": 115_980}

#: Display names, as in the talk.
DISPLAY_NAMES = {"m21.1": "SSegm M21.1", "m20.1": "SSegm M20.1"}

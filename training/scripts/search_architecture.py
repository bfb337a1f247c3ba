"""Search the readings of the talk's SSegm diagram that hit the quoted parameter counts exactly.

M21.1 (301,132): the shapes in seed.md fix every width except L4's output; the open choices are
L4's width, a skip from L4 into the decoder at 33 x 51 (none, added to L8's output, or
concatenated before L9), L9's kernel (5x5 stride 2 with padding 1, as the legend groups it, or
3x3 stride 2 without padding: both give 67 x 103), L11/L11z output channels and how they merge
(add, concatenate), convolution biases, BatchNorm affine, and whether L12 has BatchNorm.

M20.1 (115,980): the same graph with narrower widths: asides of 8 or 16, every other width a
multiple of 8 up to 64, decoder tail L9-L11 fixed or halving. Hits are ranked by how many
distinct widths they use (fewest first).

Run: python training/scripts/search_architecture.py (a few seconds; numbers only, no torch).
"""

from __future__ import annotations

import itertools

M21_TARGET = 301_132
M20_TARGET = 115_980


def layer(cin: int, cout: int, kernel: int, bias: bool, bn: bool, affine: bool = True) -> int:
    """Trainable parameters of a (transposed) convolution followed by an optional BatchNorm."""
    return cin * cout * kernel + (cout if bias else 0) + (2 * cout if bn and affine else 0)


def m21_readings() -> list[dict]:
    """Every reading of M21.1 in the option space above that has exactly 301,132 parameters."""
    hits = []
    options = itertools.product(
        range(8, 129, 8),  # L4 output width
        ("none", "add", "concat"),  # skip from L4 to L8's output
        (25, 9),  # L9 kernel area
        (1, 4),  # L11 and L11z output channels
        ("add", "concat"),  # merge of L11 and L11z
        (True, False),  # convolution bias
        (True, False),  # BatchNorm affine
        (False, True),  # BatchNorm on L12
    )
    for l4, skip, k9, c11, merge, bias, affine, l12_bn in options:
        if skip == "add" and l4 != 32:
            continue
        l9_in = 32 + l4 if skip == "concat" else 32
        l12_in = c11 if merge == "add" else 2 * c11

        def p(cin, cout, kernel, bn=True, affine=affine, bias=bias):
            return layer(cin, cout, kernel, bias, bn, affine)

        total = (
            p(7, 64, 9) + p(48, 48, 9) + p(48, 48, 9) + p(32, l4, 9) + p(l4, 64, 9)
            + p(64, 64, 9) + p(64, 64, 25) + p(64, 32, 25) + p(l9_in, 16, k9) + p(16, 8, 9)
            + p(8, c11, 25) + p(16, c11, 25) + p(l12_in, 1, 30, bn=l12_bn) + p(16, 1, 9)
        )
        if total == M21_TARGET:
            hits.append(dict(L4=l4, skip=skip, L9_kernel="5x5" if k9 == 25 else "3x3",
                             L11=c11, merge=merge, bias=bias, affine=affine, L12_bn=l12_bn))
    return hits


def family_count(w: tuple[int, ...], l9_kernel: int = 9) -> int:
    """Parameters of the M21.1 graph with widths (L1, L1 aside, L2, L3, L3 aside, L4..L11)."""
    l1, a1, l2, l3, a3, l4, l5, l6, l7, l8, l9, l10, l11 = w

    def p(cin, cout, kernel, bn=True):
        return layer(cin, cout, kernel, True, bn)

    return (
        p(7, l1, 9) + p(l1 - a1, l2, 9) + p(l2, l3, 9) + p(l3 - a3, l4, 9) + p(l4, l5, 9)
        + p(l5, l6, 9) + p(l6, l7, 25) + p(l7, l8, 25) + p(l8, l9, l9_kernel) + p(l9, l10, 9)
        + p(l10, l11, 25) + p(a3, l11, 25) + p(l11, 1, 30, bn=False) + p(a1, 1, 9)
    )


def m20_width_sets() -> list[tuple[int, tuple[int, ...]]]:
    """Narrower width sets with exactly 115,980 parameters, fewest distinct widths first."""
    widths = (16, 24, 32, 40, 48, 64)
    hits = []
    for aside in (8, 16):
        for l1m, l2, l3, l4, l5, l6, l7, l8 in itertools.product(widths, repeat=8):
            if l3 <= aside or not l4 <= l5 <= l6 or l8 > l7:
                continue
            for tail in ((16, 8, 4), (l8 // 2, l8 // 4, l8 // 8)):
                w = (l1m + aside, aside, l2, l3, aside, l4, l5, l6, l7, l8, *tail)
                if family_count(w) == M20_TARGET:
                    hits.append((len({l1m + aside, l2, l3, l4, l5, l6, l7, l8}), w))
    return sorted(set(hits))


def main() -> None:
    print(f"M21.1 readings with exactly {M21_TARGET:,} parameters:")
    for hit in m21_readings():
        print("  ", hit)
    m21 = (64, 16, 48, 48, 16, 64, 64, 64, 64, 32, 16, 8, 4)
    print(f"check: chosen M21.1 widths -> {family_count(m21):,}; "
          f"with a 5x5 L9 -> {family_count(m21, l9_kernel=25):,}")
    print(f"M20.1 width sets (L1, L1 aside, L2, L3, L3 aside, L4..L11) with {M20_TARGET:,}:")
    for distinct, w in m20_width_sets()[:10]:
        print(f"   {distinct} distinct widths: {w}")


if __name__ == "__main__":
    main()

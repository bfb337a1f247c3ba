"""Parity of an exported ONNX model with its PyTorch source, on the same input crops.

The station runtime (``runtime.inference``: ONNX Runtime on CPU) runs the exported file,
PyTorch eager runs the unfolded source module with a sigmoid on its logits, and the two
probability maps are compared cell by cell: the largest and mean absolute difference, and the
cells whose ice / not-ice decision at the model's threshold differs. The fp32 export must agree
to 1e-4 in probability and 1e-5 of cells in the mask; the reduced-precision variants have their
own, looser tolerances (see :data:`TOLERANCES`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from runtime.errors import ParityError
from runtime.inference import Model

log = logging.getLogger(__name__)

BATCH = 4


@dataclass(frozen=True)
class Tolerance:
    """How far an exported model may stray from PyTorch eager."""

    max_abs_diff: float
    mask_disagreement: float  # fraction of all compared cells

    def describe(self) -> str:
        return (
            f"max |diff| <= {self.max_abs_diff:g}, "
            f"mask disagreement <= {self.mask_disagreement:g}"
        )


#: fp32 must match eager to float rounding. fp16 keeps about three decimal digits: a
#: probability may move by up to 1e-2 and a few cells near the threshold may flip. int8 moves
#: probabilities further and flips cells along the ice edges (first trained M20.1, synthetic
#: validation scenes, after 2 and 12 epochs: max 0.03 and 0.06, 0.3 % of cells; the
#: difference grows as training sharpens the model); its usefulness is judged by the
#: validation IoU, this bound only catches a broken quantisation.
TOLERANCES = {
    "fp32": Tolerance(max_abs_diff=1e-4, mask_disagreement=1e-5),
    "fp16": Tolerance(max_abs_diff=1e-2, mask_disagreement=1e-3),
    "int8": Tolerance(max_abs_diff=0.25, mask_disagreement=2e-2),
}


@dataclass(frozen=True)
class ParityReport:
    """The comparison of two sets of probability maps of the same crops."""

    source: str  # what the crops are
    crops: int
    cells: int
    nodata_cells: int  # input cells with at least one NaN band
    max_abs_diff: float
    mean_abs_diff: float
    disagreeing_cells: int

    @property
    def disagreement(self) -> float:
        return self.disagreeing_cells / self.cells

    def passes(self, tolerance: Tolerance) -> bool:
        return (
            bool(np.isfinite(self.max_abs_diff))
            and self.max_abs_diff <= tolerance.max_abs_diff
            and self.disagreement <= tolerance.mask_disagreement
        )

    def figures(self) -> str:
        return (
            f"max |diff| {self.max_abs_diff:.3g}, mean |diff| {self.mean_abs_diff:.3g}, "
            f"{self.disagreeing_cells} disagreeing cells ({self.disagreement:.3g})"
        )

    def summary(self) -> str:
        return (
            f"{self.crops} crops ({self.source}; the last with added no-data areas), "
            f"{self.cells} cells of which {self.nodata_cells} without data: {self.figures()}"
        )


def torch_probabilities(model: nn.Module, crops: np.ndarray) -> np.ndarray:
    """Sigmoid of an eval-mode logits model on (N, 7, H, W) crops, float32 (N, 1, H, W)."""
    model = model.eval()
    outputs = []
    with torch.no_grad():
        for start in range(0, len(crops), BATCH):
            batch = torch.from_numpy(np.ascontiguousarray(crops[start : start + BATCH]))
            outputs.append(torch.sigmoid(model(batch)).numpy())
    return np.concatenate(outputs)


def runtime_probabilities(onnx_path: str | Path, crops: np.ndarray) -> np.ndarray:
    """The station runtime's probabilities (ONNX Runtime, CPU) on (N, 7, H, W) crops,
    float32 (N, 1, H, W). Loading through the runtime also checks the file's metadata."""
    model = Model(onnx_path, device="cpu")
    return np.stack([model.probability(crop)[None] for crop in crops])


def compare(
    crops: np.ndarray, reference: np.ndarray, candidate: np.ndarray, threshold: float,
    source: str,
) -> ParityReport:
    """Compare two probability maps of the same crops; a cell is ice at p >= threshold."""
    diff = np.abs(reference.astype(np.float64) - candidate.astype(np.float64))
    disagree = (reference >= threshold) != (candidate >= threshold)
    finite = bool(np.isfinite(diff).all())
    return ParityReport(
        source=source,
        crops=len(crops),
        cells=int(reference.size),
        nodata_cells=int(np.isnan(crops).any(axis=1).sum()),
        max_abs_diff=float(diff.max()) if finite else float("nan"),
        mean_abs_diff=float(diff.mean()) if finite else float("nan"),
        disagreeing_cells=int(disagree.sum()),
    )


def measure_parity(
    model: nn.Module, onnx_path: str | Path, crops: np.ndarray, threshold: float, source: str
) -> ParityReport:
    """Run PyTorch eager and the ONNX file on `crops` (described as `source`) and compare."""
    reference = torch_probabilities(model, crops)
    candidate = runtime_probabilities(onnx_path, crops)
    report = compare(crops, reference, candidate, threshold, source)
    log.info("parity of %s: %s", onnx_path, report.summary())
    return report


def check_parity(
    model: nn.Module,
    onnx_path: str | Path,
    crops: np.ndarray,
    threshold: float,
    tolerance: Tolerance,
    output_name: str | Path,
    source: str,
) -> ParityReport:
    """:func:`measure_parity`; ParityError (naming `output_name`) beyond `tolerance`."""
    report = measure_parity(model, onnx_path, crops, threshold, source)
    if not report.passes(tolerance):
        raise ParityError(
            f"ONNX Runtime disagrees with PyTorch: {report.summary()}; "
            f"allowed {tolerance.describe()}",
            output_name,
        )
    return report

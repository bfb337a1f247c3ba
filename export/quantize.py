"""Reduced-precision variants of an exported fp32 model, and whether each is worth keeping.

- int8, for CPU stations: static QDQ quantisation with onnxruntime.quantization, calibrated on
  training crops. Only the convolutions are quantised; the NaN fill and normalisation at the
  input stay float (the calibrator cannot take ranges of a tensor that holds NaN), and so does
  the first convolution: its input is the normalised reflectance, whose 8-bit steps over the
  range from dark water to bright cloud are as coarse as the contrasts between water and thin
  ice. Keeping it float more than halved the largest probability change of the jitter-trained
  M21.1 (BENCHMARKS.md, export variants).
- fp16, for CUDA stations: the float16 conversion shipped with onnxruntime (the same code as
  onnxconverter-common), input and output kept float32 so the runtime feeds it unchanged.

A variant is kept only if it is faster (by MIN_SPEEDUP) than fp32 where it is meant to run
(int8: CPU; fp16: CUDA) and its IoU on labelled crops is within :data:`IOU_MARGIN` of fp32's.
Where its target device is missing it cannot be timed, so it is not kept.
"""

from __future__ import annotations

import logging
import math
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process
from onnxruntime.transformers.float16 import convert_float_to_float16

from export.onnx_export import read_metadata, set_metadata
from export.parity import TOLERANCES, ParityReport
from runtime.errors import ProviderUnavailable
from runtime.inference import open_session

log = logging.getLogger(__name__)

PRECISIONS = ("int8", "fp16")
#: Where each variant is meant to run, as runtime.inference's device names.
TARGET_DEVICE = {"int8": "cpu", "fp16": "cuda"}
#: How much validation IoU a variant may lose against fp32 and still be kept.
IOU_MARGIN = 0.005
#: "Faster" means at least this speed-up: smaller gains are within the timing noise of a
#: shared 2-core machine.
MIN_SPEEDUP = 1.1
TIMING_RUNS = 15


class _Crops(CalibrationDataReader):
    """Feeds calibration crops to the quantiser one at a time."""

    def __init__(self, crops: np.ndarray, input_name: str) -> None:
        self._batches: Iterator[dict] = iter(
            {input_name: np.ascontiguousarray(crop[None])} for crop in crops
        )

    def get_next(self) -> dict | None:
        return next(self._batches, None)


def first_convolution(graph: onnx.GraphProto) -> str:
    """Name of the graph's first Conv node (ONNX graphs are topologically sorted)."""
    return next(node.name for node in graph.node if node.op_type == "Conv")


def quantize_int8(fp32_path: Path, out_path: Path, calibration: np.ndarray) -> None:
    """Static QDQ int8 model (per-channel int8 weights, uint8 activations) from fp32_path,
    the first convolution left in float."""
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
        graph = onnx.load(str(prepared)).graph
        input_name = graph.input[0].name
        quantize_static(
            str(prepared),
            str(out_path),
            _Crops(calibration, input_name),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["Conv", "ConvTranspose"],
            nodes_to_exclude=[first_convolution(graph)],
        )


def convert_fp16(fp32_path: Path, out_path: Path) -> None:
    """float16 weights and compute, float32 input and output."""
    model = convert_float_to_float16(onnx.load(str(fp32_path)), keep_io_types=True)
    onnx.save(model, str(out_path))


def make_variant(precision: str, fp32_path: Path, out_path: Path, calibration: np.ndarray) -> None:
    """Write the `precision` variant of fp32_path to out_path, with the fp32 model's metadata
    plus a "precision" field."""
    if precision == "int8":
        quantize_int8(fp32_path, out_path, calibration)
    elif precision == "fp16":
        convert_fp16(fp32_path, out_path)
    else:
        raise ValueError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    variant = onnx.load(str(out_path))
    set_metadata(variant, {**read_metadata(fp32_path), "precision": precision})
    onnx.save(variant, str(out_path))


def seconds_per_image(
    paths: list[Path], device: str, crops: np.ndarray, threads: int
) -> list[float] | None:
    """Median batch-1 latency of each model on `device`, or None where that device cannot run.

    The models take turns, run after run, so load from other processes hits them alike.
    """
    try:
        sessions = [open_session(path, device, threads) for path in paths]
    except ProviderUnavailable as error:
        log.info("cannot time on %s: %s", device, error)
        return None
    name = sessions[0].get_inputs()[0].name
    feeds = [{name: np.ascontiguousarray(crop[None])} for crop in crops]
    times: list[list[float]] = [[] for _ in sessions]
    for session in sessions:
        session.run(None, feeds[0])  # warm-up
    for i in range(TIMING_RUNS):
        for session, record in zip(sessions, times, strict=True):
            start = time.perf_counter()
            session.run(None, feeds[i % len(feeds)])
            record.append(time.perf_counter() - start)
    return [statistics.median(record) for record in times]


@dataclass(frozen=True)
class VariantResult:
    """What was measured for one variant, and the verdict."""

    precision: str
    device: str
    parity: ParityReport
    seconds_fp32: float | None  # None: the target device is not here
    seconds_variant: float | None
    iou_fp32: float  # NaN: no ice in the labels nor the predictions
    iou_variant: float

    @property
    def speedup(self) -> float | None:
        if self.seconds_fp32 is None or self.seconds_variant is None:
            return None
        return self.seconds_fp32 / self.seconds_variant

    def verdict(self) -> tuple[bool, str]:
        """(keep, why): within its parity tolerance, faster on its target device, and IoU
        within IOU_MARGIN of fp32."""
        tolerance = TOLERANCES[self.precision]
        if not self.parity.passes(tolerance):
            return False, f"parity beyond {tolerance.describe()}"
        if self.speedup is None:
            return False, f"not timed: no working {self.device} here"
        if self.speedup < MIN_SPEEDUP:
            return False, f"not faster on {self.device} ({self.speedup:.2f}x fp32)"
        loss = self.iou_fp32 - self.iou_variant
        if not math.isfinite(loss):
            return False, "IoU undefined: no ice in the labelled crops"
        if loss > IOU_MARGIN:
            return False, f"IoU {loss:.4f} below fp32 (allowed {IOU_MARGIN})"
        return True, f"{self.speedup:.2f}x fp32 on {self.device}, IoU change {-loss:+.4f}"

    def summary(self) -> str:
        def fmt(value: float | None, spec: str) -> str:
            return "n/a" if value is None else format(value, spec)

        keep, why = self.verdict()
        return (
            f"{self.precision} ({self.device}): parity {self.parity.figures()}; "
            f"batch-1 seconds per image fp32 {fmt(self.seconds_fp32, '.4f')}, "
            f"{self.precision} {fmt(self.seconds_variant, '.4f')}; "
            f"IoU fp32 {fmt(self.iou_fp32, '.4f')}, {self.precision} "
            f"{fmt(self.iou_variant, '.4f')}; {'kept' if keep else 'not kept'}: {why}"
        )

"""The model card written next to an exported model: what it is, what it was trained on, how
well it did, and how closely the ONNX file matches its PyTorch source."""

from __future__ import annotations

import json
import re

import onnx
import onnxruntime
import torch

from export.onnx_export import OPSET
from export.parity import TOLERANCES, ParityReport
from export.quantize import VariantResult
from export.samples import IOU_CROPS

INPUT_NOTE = (
    "raw L1B reflectance from the reader (rho * cos(solar zenith), bands 1-7 in that order, "
    "NaN = no data), float32 (N, 7, 285, 430); NaN is replaced by the band mean and the bands "
    "are standardised inside the graph"
)

#: The card's line naming the sha256 of the ONNX file it describes.
_FILE_SHA256 = "- File sha256: `{}`"
_FILE_SHA256_LINE = re.compile(r"^- File sha256: `([0-9a-f]{64})`$", re.MULTILINE)


def described_sha256(text: str) -> str | None:
    """The sha256 of the ONNX file a model card describes; None for text that is no card."""
    found = _FILE_SHA256_LINE.search(text)
    return found.group(1) if found else None


def _metrics_rows(metrics: dict) -> list[str]:
    """One table row per metric; nested objects are shown as compact JSON."""
    rows = []
    for key, value in metrics.items():
        shown = f"{value:.4f}" if isinstance(value, float) else json.dumps(value)
        rows.append(f"| {key} | {shown} |")
    return rows


def _planned(train_config: dict) -> str:
    """How many epochs the run was set for, when its configuration says so."""
    planned = train_config.get("config", {}).get("epochs")
    return f" (the run was set for {planned} epochs)" if planned else ""


def _training_rows(train_config: dict) -> list[str]:
    """The training configuration as list items; the split as scene counts, not names."""
    rows = [f"- {key}: `{json.dumps(value)}`" for key, value in train_config.items()
            if key not in ("config", "split")]
    rows += [f"- {key}: `{json.dumps(value)}`"
             for key, value in train_config.get("config", {}).items()]
    split = train_config.get("split", {})
    if split:
        rows.append(
            f"- split: {len(split.get('training', []))} training / "
            f"{len(split.get('validation', []))} validation scenes "
            f"(seed {split.get('seed')}, validation fraction {split.get('validation_fraction')})"
        )
    return rows


def render(
    metadata: dict,
    file_name: str,
    onnx_sha256: str,
    parameters: int,
    train_config: dict,
    parity: ParityReport | None,
    variants: list[VariantResult],
) -> str:
    """Markdown model card of one exported model."""
    synthetic = "synthetic" in metadata["trained_on"].lower()
    label = " (synthetic data)" if synthetic else ""
    lines = [
        f"# {metadata['name']} ({file_name})",
        "",
        f"Sea-ice segmentation of Peter the Great Bay, version `{metadata['version']}`.",
    ]
    if synthetic:
        lines += [
            "",
            "**Trained and validated on synthetic scenes only.** Its accuracy on real MODIS "
            "granules has not been measured.",
        ]
    lines += [
        "",
        "## Model",
        "",
        f"- Architecture: `{metadata['architecture']}`, {parameters:,} trainable parameters "
        "(BatchNorm folded into the convolutions in the ONNX file).",
        f"- Input `reflectance`: {INPUT_NOTE}.",
        "- Output `probability`: float32 (N, 1, 285, 430), sigmoid probability of ice; a cell is "
        f"ice at probability >= {metadata['threshold']}.",
        f"- Grid: `{json.dumps(metadata['grid'])}`.",
        f"- ONNX opset {OPSET}, exported with torch {torch.__version__} (dynamo exporter), "
        f"onnx {onnx.__version__}; parity checked with onnxruntime {onnxruntime.__version__}.",
        _FILE_SHA256.format(onnx_sha256),
        f"- Source checkpoint sha256: `{metadata['checkpoint_sha256']}`",
        "",
        "## Training data",
        "",
        metadata["trained_on"],
        "",
        "## Training",
        "",
        f"- Epoch of this checkpoint: {metadata['epoch']}{_planned(train_config)}",
        *_training_rows(train_config),
        "",
        f"## Validation metrics{label}",
        "",
        "| metric | value |",
        "|---|---|",
        *_metrics_rows(metadata["metrics"]),
        "",
        "## Parity: ONNX Runtime (CPU, through the station runtime) against PyTorch eager",
        "",
    ]
    if parity is None:
        lines.append("Not checked (exported with --no-parity, a debugging option).")
    else:
        lines += [
            f"{parity.summary()}; allowed {TOLERANCES['fp32'].describe()}.",
        ]
    if variants:
        lines += [
            "",
            "## Reduced-precision variants",
            "",
            "Kept only if faster where they are meant to run (int8: CPU, fp16: CUDA) and within "
            f"0.005 of fp32's IoU on up to {IOU_CROPS} labelled crops of the same source; each "
            "checked against PyTorch on the crops above with its own, looser tolerance "
            f"(int8: {TOLERANCES['int8'].describe()}; fp16: {TOLERANCES['fp16'].describe()}).",
            "",
        ]
        lines += [f"- {variant.summary()}" for variant in variants]
    return "\n".join(lines) + "\n"

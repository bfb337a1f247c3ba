"""`export-onnx CKPT [-o OUT.onnx]`: a training checkpoint to the ONNX model the stations run.

The model is exported (BatchNorm folded, dynamic batch, metadata attached) to a temporary file
beside the output, checked for parity against PyTorch eager on realistic crops, and only then
renamed to its final name: a model that fails parity is never written.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import numpy as np
import onnx
import typer
from torch import nn

from export import model_card, samples
from export.onnx_export import METADATA_SOURCES, file_sha256, model_metadata, set_metadata, to_onnx
from export.parity import (
    TOLERANCES,
    ParityReport,
    check_parity,
    measure_parity,
    runtime_probabilities,
)
from export.quantize import (
    PRECISIONS,
    TARGET_DEVICE,
    VariantResult,
    make_variant,
    seconds_per_image,
)
from runtime.cli.common import reports_errors, run_app, setup_logging
from runtime.errors import CheckpointError, OutputError
from runtime.inference import usable_cpus
from training.checkpoint import load_checkpoint, model_from_checkpoint
from training.models import count_parameters

TOOL = "export-onnx"

app = typer.Typer(
    name=TOOL,
    help="Export a training checkpoint to ONNX, with a parity check against PyTorch.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@contextmanager
def _temporary_beside(path: Path):
    """A temporary name in path's folder (made if needed), removed afterwards unless the
    file was renamed to its final name."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create the folder ({error.strerror})", path.parent) from None
    if not os.access(path.parent, os.W_OK):
        raise OutputError("folder is not writable", path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def _try_variant(
    precision: str, fp32_path: Path, output: Path, model: nn.Module, threshold: float,
    parity_crops: np.ndarray, evaluation: samples.Samples, calibration: samples.Samples,
) -> VariantResult:
    """Make one variant, measure it against fp32 (parity, IoU, speed on its target device) and
    write it beside `output` only when it is worth keeping."""
    variant_out = output.with_suffix(f".{precision}.onnx")
    with _temporary_beside(variant_out) as tmp:
        make_variant(precision, fp32_path, tmp, calibration.reflectance)
        report = measure_parity(model, tmp, parity_crops, threshold, evaluation.source)
        device = TARGET_DEVICE[precision]
        seconds = seconds_per_image(
            [fp32_path, tmp], device, evaluation.reflectance[:3], usable_cpus()
        ) or [None, None]
        result = VariantResult(
            precision=precision,
            device=device,
            parity=report,
            seconds_fp32=seconds[0],
            seconds_variant=seconds[1],
            iou_fp32=_iou(fp32_path, evaluation, threshold),
            iou_variant=_iou(tmp, evaluation, threshold),
        )
        if result.verdict()[0]:
            os.replace(tmp, variant_out)
    return result


def _iou(path: Path, crops: samples.Samples, threshold: float) -> float:
    return crops.iou(runtime_probabilities(path, crops.reflectance), threshold)


def _write_card(output: Path, text: str) -> Path:
    card_path = output.with_suffix(".md")
    with _temporary_beside(card_path) as tmp:
        tmp.write_text(text)
        os.replace(tmp, card_path)
    return card_path


HELP = (
    "Export CHECKPOINT to the ONNX model the stations run: input \"reflectance\" (the "
    "reader's raw output, NaN = no data), output \"probability\"; BatchNorm folded, dynamic "
    "batch, \"bay_ice\" metadata. The file is written only after ONNX Runtime matches PyTorch "
    "eager (max probability difference <= 1e-4, mask disagreement <= 1e-5 of cells); "
    "otherwise exit 15 and no file."
)


@app.command(help=HELP)
@reports_errors(TOOL)
def export(
    checkpoint: Annotated[Path, typer.Argument(help="Training checkpoint (.ckpt) to export.")],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output",
                     help="ONNX file to write (default: CHECKPOINT with .onnx)."),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(help="Dataset folder whose crops are used for parity, int8 calibration "
                     "and IoU (default: simulated scenes)."),
    ] = None,
    version: Annotated[
        str | None,
        typer.Option(help="Model version for the metadata (default: e<epoch>-<sha256[:12]> "
                     "of the checkpoint)."),
    ] = None,
    parity: Annotated[
        bool,
        typer.Option(help="Check parity with PyTorch before writing. --no-parity is for "
                     "debugging only: never ship a model exported without it."),
    ] = True,
    int8: Annotated[bool, typer.Option("--int8", help="Also try the int8 (CPU) variant.")] = False,
    fp16: Annotated[bool, typer.Option("--fp16", help="Also try the fp16 (CUDA) variant.")] = False,
    card: Annotated[bool, typer.Option("--card", help="Also write the model card OUT.md.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress.")] = False,
) -> None:
    """Export CHECKPOINT to the ONNX model the stations run (see HELP)."""
    setup_logging(verbose)
    output = output or checkpoint.with_suffix(".onnx")
    if output.is_dir():
        raise OutputError("is a folder: give the ONNX file's name", output)
    ckpt = load_checkpoint(checkpoint)
    missing = [key for key in METADATA_SOURCES if key not in ckpt]
    if missing:
        raise CheckpointError(f"checkpoint lacks {', '.join(missing)}", checkpoint)
    model = model_from_checkpoint(ckpt, checkpoint)
    checkpoint_sha256 = file_sha256(checkpoint)
    metadata = model_metadata(
        ckpt, checkpoint_sha256, version or f"e{ckpt['epoch']}-{checkpoint_sha256[:12]}"
    )
    proto = to_onnx(model)
    set_metadata(proto, metadata)

    precisions = [p for p, wanted in zip(PRECISIONS, (int8, fp16), strict=True) if wanted]
    if parity or precisions:
        evaluation, calibration = samples.load(
            data,
            ckpt.get("train_config", {}).get("split"),
            samples.IOU_CROPS if precisions else samples.PARITY_CROPS,
            samples.CALIBRATION_CROPS if precisions else 0,
        )
        parity_crops = samples.parity_crops(evaluation)
    report: ParityReport | None = None
    variants: list[VariantResult] = []
    with _temporary_beside(output) as tmp:
        onnx.save(proto, str(tmp))
        if parity:
            report = check_parity(
                model, tmp, parity_crops, metadata["threshold"], TOLERANCES["fp32"], output,
                evaluation.source,
            )
            typer.echo(f"parity fp32: {report.summary()}")
        for precision in precisions:
            variants.append(
                _try_variant(precision, tmp, output, model, metadata["threshold"], parity_crops,
                             evaluation, calibration)
            )
            typer.echo(variants[-1].summary())
        os.replace(tmp, output)
    typer.echo(f"wrote {output}")
    if card:
        text = model_card.render(
            metadata, output.name, file_sha256(output), count_parameters(model),
            ckpt.get("train_config", {}), report, variants,
        )
        typer.echo(f"wrote {_write_card(output, text)}")


def main() -> None:
    """Console-script entry point."""
    run_app(app)

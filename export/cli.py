"""`export-onnx CKPT [-o OUT.onnx]`: a training checkpoint to the ONNX model the stations run.

The model is exported (BatchNorm folded, dynamic batch, metadata attached) to a temporary file
beside the output, checked for parity against PyTorch eager on realistic crops, and only then
renamed to its final name: a model that fails parity is never written. Variants and a card that
an earlier export left beside the output for another model are removed once it is written.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import numpy as np
import onnx
import typer
from torch import nn

from export import model_card, samples
from export.onnx_export import (
    METADATA_SOURCES,
    file_sha256,
    model_metadata,
    read_metadata,
    set_metadata,
    to_onnx,
)
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
from runtime.errors import CheckpointError, ModelError, OutputError
from runtime.inference import usable_cpus
from runtime.outputs import output_directory
from training.checkpoint import load_checkpoint, model_from_checkpoint
from training.models import count_parameters

log = logging.getLogger(__name__)

TOOL = "export-onnx"

app = typer.Typer(
    name=TOOL,
    help="Export a training checkpoint to ONNX, with a parity check against PyTorch.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _validation_iou(row: object) -> float:
    """A history row's validation IoU as training ranks it (-1 when missing or NaN)."""
    value = row.get("val_iou") if isinstance(row, dict) else None
    finite = isinstance(value, int | float) and math.isfinite(value)
    return float(value) if finite else -1.0


def _warn_if_not_best(checkpoint: dict, path: Path) -> None:
    """One warning when the checkpoint is not its run's best-validation epoch: a last.ckpt
    records its run's history (training/train.py), so the best epoch is known; without that
    record the file name must do."""
    resume = checkpoint.get("resume")
    history = resume.get("history") if isinstance(resume, dict) else None
    best = max(history, key=_validation_iou) if isinstance(history, list) and history else None
    if isinstance(best, dict) and "epoch" in best:
        if best["epoch"] != checkpoint["epoch"]:
            log.warning("%s: epoch %s is not the best-validation epoch of its run (epoch %s, "
                        "IoU %.4f): best.ckpt holds that one", path, checkpoint["epoch"],
                        best["epoch"], _validation_iou(best))
    elif path.name == "last.ckpt":
        log.warning("%s: the last epoch of its run, not necessarily the best-validation one "
                    "(best.ckpt)", path)


@contextmanager
def _temporary_beside(path: Path) -> Iterator[Path]:
    """A temporary name in path's folder, removed afterwards unless the file was renamed to
    its final name."""
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


def _of_another_model(path: Path, metadata: dict, onnx_sha256: str) -> bool:
    """Whether `path`, a variant or card name beside the output, holds a variant or card that
    export-onnx made for another model than the one just written (False for other files)."""
    if path.suffix == ".md":
        described = model_card.described_sha256(path.read_text(errors="replace"))
        return described is not None and described != onnx_sha256
    try:
        variant = read_metadata(path)
    except Exception:  # not an ONNX file with our metadata (onnx and json raise many types)
        return False
    if not isinstance(variant, dict) or "precision" not in variant:
        return False
    del variant["precision"]
    return variant != json.loads(json.dumps(metadata))


def _remove_stale(output: Path, written: list[Path], metadata: dict) -> None:
    """Remove the variants and card beside `output` that this export did not write and that
    belong to another model, with one warning line each."""
    onnx_sha256 = file_sha256(output)
    names = [output.with_suffix(f".{precision}.onnx") for precision in PRECISIONS]
    for path in [*names, output.with_suffix(".md")]:
        if path in written or not path.is_file():
            continue
        if _of_another_model(path, metadata, onnx_sha256):
            path.unlink()
            kind = "card of another file" if path.suffix == ".md" else "variant of another model"
            log.warning("%s: removed: the %s than the new %s", path, kind, output.name)


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
    if output.suffix != ".onnx":  # OUT.md, the card, must not be the model itself
        raise OutputError("the output name must end in .onnx", output)
    if output.exists() and checkpoint.exists() and output.samefile(checkpoint):
        raise OutputError("the output is the checkpoint itself", output)
    ckpt = load_checkpoint(checkpoint)
    missing = [key for key in METADATA_SOURCES if key not in ckpt]
    if missing:
        raise CheckpointError(f"checkpoint lacks {', '.join(missing)}", checkpoint)
    model = model_from_checkpoint(ckpt, checkpoint)
    _warn_if_not_best(ckpt, checkpoint)
    checkpoint_sha256 = file_sha256(checkpoint)
    metadata = model_metadata(
        ckpt, checkpoint_sha256, version or f"e{ckpt['epoch']}-{checkpoint_sha256[:12]}"
    )
    precisions = [p for p, wanted in zip(PRECISIONS, (int8, fp16), strict=True) if wanted]
    with output_directory(output.parent):  # a failed export leaves no folder it made
        proto = to_onnx(model)
        set_metadata(proto, metadata)
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
            try:
                if parity:
                    report = check_parity(
                        model, tmp, parity_crops, metadata["threshold"], TOLERANCES["fp32"],
                        output, evaluation.source,
                    )
                    typer.echo(f"parity fp32: {report.summary()}")
                for precision in precisions:
                    variants.append(
                        _try_variant(precision, tmp, output, model, metadata["threshold"],
                                     parity_crops, evaluation, calibration)
                    )
                    typer.echo(variants[-1].summary())
            except ModelError as error:  # names a temporary file: the cause is the checkpoint
                raise CheckpointError(f"the runtime refuses the exported model "
                                      f"({error.reason})", checkpoint) from None
            os.replace(tmp, output)
        typer.echo(f"wrote {output}")
        written = [output.with_suffix(f".{v.precision}.onnx") for v in variants
                   if v.verdict()[0]]
        if card:
            text = model_card.render(
                metadata, output.name, file_sha256(output), count_parameters(model),
                ckpt.get("train_config", {}), report, variants,
            )
            written.append(_write_card(output, text))
            typer.echo(f"wrote {written[-1]}")
        _remove_stale(output, written, metadata)


def main() -> None:
    """Console-script entry point."""
    run_app(app)

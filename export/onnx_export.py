"""A trained SSegm module to an ONNX model the stations run.

The exported graph takes raw L1B reflectance with NaN (the reader's output: NaN replacement and
normalisation are inside the torch module) and returns the sigmoid probability of ice. BatchNorm
is folded into the preceding convolutions in torch before export, so the file itself has no
BatchNormalization node. Export uses torch's dynamo exporter (``torch.onnx.export(dynamo=True)``).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

import onnx
import torch
from torch import fx, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from runtime import grid
from training.architectures import DISPLAY_NAMES

log = logging.getLogger(__name__)

INPUT_NAME = "reflectance"
OUTPUT_NAME = "probability"
OPSET = 20
METADATA_KEY = "bay_ice"
METADATA_FORMAT_VERSION = 1
#: Checkpoint keys the metadata is made from.
METADATA_SOURCES = ("preprocessing", "threshold", "epoch", "metrics", "data")


class ProbabilityModel(nn.Module):
    """Wraps a logits model so the exported graph ends in the sigmoid probability."""

    def __init__(self, logits_model: nn.Module) -> None:
        super().__init__()
        self.logits_model = logits_model

    def forward(self, reflectance: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits_model(reflectance))


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """An eval-mode copy of `model` with each BatchNorm2d merged into the conv that feeds it.

    Works on the module's fx graph, so it does not depend on how the model nests its layers.
    A BatchNorm whose input is not a Conv2d / ConvTranspose2d used only by it stays, and
    :func:`batchnorm_nodes` then finds it in the exported graph.
    """
    traced = fx.symbolic_trace(copy.deepcopy(model).eval())
    modules = dict(traced.named_modules())
    for node in list(traced.graph.nodes):
        if node.op != "call_module" or not isinstance(modules[node.target], nn.BatchNorm2d):
            continue
        source = node.args[0]
        if not (
            isinstance(source, fx.Node)
            and source.op == "call_module"
            and isinstance(modules[source.target], nn.Conv2d | nn.ConvTranspose2d)
            and len(source.users) == 1
        ):
            continue
        conv = modules[source.target]
        fused = fuse_conv_bn_eval(
            conv, modules[node.target], transpose=isinstance(conv, nn.ConvTranspose2d)
        )
        parent_name, _, child_name = source.target.rpartition(".")
        setattr(traced.get_submodule(parent_name), child_name, fused)
        node.replace_all_uses_with(source)
        traced.graph.erase_node(node)
    traced.graph.lint()
    traced.delete_all_unused_submodules()
    traced.recompile()
    return traced.eval()


def batchnorm_nodes(model: onnx.ModelProto) -> list[str]:
    """Names of the BatchNormalization nodes left in a graph (none after a good export)."""
    return [n.name for n in model.graph.node if n.op_type == "BatchNormalization"]


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Hide the exporter's chatter that says nothing about this model (missing torchvision
    ops, deprecations inside torch)."""
    registration = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registration.level
    registration.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        registration.setLevel(level)


def to_onnx(model: nn.Module) -> onnx.ModelProto:
    """Export a logits model as reflectance -> probability with a dynamic batch dimension.

    The model is exported in eval mode with its BatchNorm folded; the result passes the full
    ONNX checker and strict shape inference.
    """
    module = ProbabilityModel(fold_batchnorm(model)).eval()
    example = torch.zeros(2, len(grid.BANDS), grid.ROWS, grid.COLS)
    with torch.no_grad(), _quiet_exporter():
        program = torch.onnx.export(
            module,
            (example,),
            dynamo=True,
            opset_version=OPSET,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_shapes=({0: torch.export.Dim("batch")},),
            verbose=False,
        )
    proto = program.model_proto
    left = batchnorm_nodes(proto)
    if left:
        raise RuntimeError(f"BatchNorm could not be folded into a convolution: {left}")
    onnx.checker.check_model(proto, full_check=True)
    return onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_metadata(checkpoint: dict, checkpoint_sha256: str, version: str) -> dict:
    """The "bay_ice" metadata object of the ONNX contract, from a loaded checkpoint."""
    preprocessing = checkpoint["preprocessing"]
    return {
        "format_version": METADATA_FORMAT_VERSION,
        "name": DISPLAY_NAMES[checkpoint["architecture"]],
        "architecture": checkpoint["architecture"],
        "version": version,
        "bands": list(preprocessing["bands"]),
        "input": preprocessing["input"],
        "normalisation": {
            "in_graph": True,
            "mean": [float(v) for v in preprocessing["mean"]],
            "std": [float(v) for v in preprocessing["std"]],
        },
        "grid": checkpoint["grid"],
        "threshold": float(checkpoint["threshold"]),
        "epoch": int(checkpoint["epoch"]),
        "metrics": checkpoint["metrics"],
        "checkpoint_sha256": checkpoint_sha256,
        "trained_on": checkpoint["data"],
    }


def set_metadata(model: onnx.ModelProto, metadata: dict) -> None:
    """Store `metadata` as the model's "bay_ice" JSON property (replacing an older one)."""
    props = {p.key: p.value for p in model.metadata_props}
    props[METADATA_KEY] = json.dumps(metadata)
    onnx.helper.set_model_props(model, props)
    model.producer_name = "bay-ice export-onnx"
    model.doc_string = f"{metadata['name']} {metadata['version']}: sea-ice probability"


def read_metadata(path: str | Path) -> dict:
    """The "bay_ice" metadata of an ONNX file."""
    model = onnx.load(str(path), load_external_data=False)
    props = {p.key: p.value for p in model.metadata_props}
    return json.loads(props[METADATA_KEY])

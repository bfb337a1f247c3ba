"""The per-layer table of an SSegm model, like the talk's diagram (`train-ssegm describe`).

One row per named tensor of the diagram: the layer (or split / sum), its operations, its
output shape for one (1, 7, 285, 430) crop, and its trainable parameters.
"""

from __future__ import annotations

import torch
from torch import nn

from runtime import grid
from training.architectures import DISPLAY_NAMES
from training.models import SSegm, count_parameters


def operation(module: nn.Module) -> str:
    """Short text of a block's operations, e.g. 'Conv2d 7->64 3x3, BatchNorm2d, GELU'."""
    parts = []
    for layer in module if isinstance(module, nn.Sequential) else [module]:
        if isinstance(layer, nn.Conv2d | nn.ConvTranspose2d):
            kernel = "x".join(map(str, layer.kernel_size))
            stride = f" stride {layer.stride[0]}" if layer.stride != (1, 1) else ""
            parts.append(f"{type(layer).__name__} {layer.in_channels}->{layer.out_channels} "
                         f"{kernel}{stride}")
        elif isinstance(layer, nn.MaxPool2d):
            parts.append("MaxPool2d 2x2")
        else:
            parts.append(type(layer).__name__)
    return ", ".join(parts)


def layer_rows(model: SSegm) -> list[tuple[str, str, tuple[int, ...], int]]:
    """(name, operation, output shape, parameters) of every named tensor for one crop."""
    with torch.no_grad():
        tensors = model.intermediates(torch.zeros(1, len(grid.BANDS), grid.ROWS, grid.COLS))
    rows = []
    for name, tensor in tensors.items():
        module = getattr(model, name.lower(), None) if name.startswith("L") else None
        if module is not None and " " not in name:
            text, params = operation(module), count_parameters(module)
        elif "->" in name:
            text, params = "channel split", 0
        elif "+" in name:
            text, params = "sum", 0
        else:
            text, params = "NaN -> band mean, (x - mean) / std (buffers)", 0
        rows.append((name, text, tuple(tensor.shape), params))
    return rows


def format_table(model: SSegm, name: str) -> str:
    """The per-layer table and the total, as printed."""
    rows = layer_rows(model)
    width = max(len(r[1]) for r in rows)
    lines = [f"{DISPLAY_NAMES[name]} ({name})",
             f"{'layer':<12} {'operation':<{width}} {'output shape':<20} {'parameters':>10}"]
    for layer, text, shape, params in rows:
        shown = "(?, " + ", ".join(map(str, shape[1:])) + ")"
        lines.append(f"{layer:<12} {text:<{width}} {shown:<20} {params:>10,}")
    lines.append(f"total trainable parameters: {count_parameters(model):,}")
    return "\n".join(lines)

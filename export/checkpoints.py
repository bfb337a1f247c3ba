"""Load and check a training checkpoint (the contract's ``bay-ice-checkpoint`` dict) for export.

Anything that is not such a checkpoint, or whose weights do not fit its architecture, raises
:class:`CheckpointError` with a one-line reason.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import torch
from torch import nn

from runtime import grid
from runtime.errors import CheckpointError
from training.models import ARCHITECTURES, build_model

FORMAT = "bay-ice-checkpoint"
VERSION = 1
REQUIRED_KEYS = (
    "architecture", "state_dict", "preprocessing", "grid", "threshold", "epoch", "metrics", "data"
)


def load_checkpoint(path: Path) -> dict:
    """The checked checkpoint dict at `path` (weights-only unpickling, on CPU)."""
    if not path.is_file():
        raise CheckpointError("checkpoint file not found", path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, OSError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"not a PyTorch checkpoint, or corrupt ({reason})", path) from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise CheckpointError(f"not a bay-ice checkpoint (no format {FORMAT!r})", path)
    if checkpoint.get("version") != VERSION:
        raise CheckpointError(
            f"checkpoint version {checkpoint.get('version')!r}, this exporter reads {VERSION}", path
        )
    missing = [key for key in REQUIRED_KEYS if key not in checkpoint]
    if missing:
        raise CheckpointError(f"checkpoint lacks {', '.join(missing)}", path)
    if checkpoint["architecture"] not in ARCHITECTURES:
        raise CheckpointError(
            f"unknown architecture {checkpoint['architecture']!r} "
            f"(known: {', '.join(ARCHITECTURES)})",
            path,
        )
    if not grid.matches(checkpoint["grid"]):
        raise CheckpointError(f"checkpoint grid {checkpoint['grid']} is not this grid", path)
    return checkpoint


def model_from_checkpoint(checkpoint: dict, path: Path) -> nn.Module:
    """The checkpoint's model in eval mode, its weights loaded strictly."""
    preprocessing = checkpoint["preprocessing"]
    model = build_model(
        checkpoint["architecture"], mean=preprocessing["mean"], std=preprocessing["std"]
    )
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except (RuntimeError, TypeError, AttributeError) as error:
        reason = str(error).strip().splitlines()[0]
        raise CheckpointError(
            f"weights do not fit architecture {checkpoint['architecture']!r} ({reason})", path
        ) from None
    return model.eval()

"""Training checkpoints in the project's format (a plain dict, `torch.load(weights_only=True)`).

    {"format": "bay-ice-checkpoint", "version": 1, "architecture", "state_dict",
     "preprocessing": {"bands", "input": "l1b_reflectance", "mean", "std"}, "grid",
     "threshold": 0.5, "epoch", "metrics", "train_config", "data"}

`last.ckpt` also carries "resume": optimizer and gradient-scaler state, the best validation IoU
so far and the per-epoch history, so that a run continues exactly where it stopped.
"""

from __future__ import annotations

import io
import logging
import warnings
from pathlib import Path

import numpy as np
import torch

from runtime import grid
from runtime.errors import CheckpointError
from runtime.outputs import write_bytes_atomic
from training.architectures import ARCHITECTURES
from training.models import SSegm, build_model

log = logging.getLogger(__name__)

FORMAT = "bay-ice-checkpoint"
VERSION = 1
THRESHOLD = 0.5


def make_checkpoint(
    architecture: str,
    model: SSegm,
    epoch: int,
    metrics: dict,
    train_config: dict,
    data: str,
) -> dict:
    """The checkpoint dict of `model` after `epoch` epochs (weights copied to CPU)."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "architecture": architecture,
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "preprocessing": {
            "bands": list(grid.BANDS),
            "input": "l1b_reflectance",
            "mean": [float(v) for v in model.mean.flatten()],
            "std": [float(v) for v in model.std.flatten()],
        },
        "grid": grid.describe(),
        "threshold": THRESHOLD,
        "epoch": epoch,
        "metrics": metrics,
        "train_config": train_config,
        "data": data,
    }


def save_checkpoint(checkpoint: dict, path: Path) -> None:
    """torch.save to a temporary file beside `path`, then rename: never a half-written file."""
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    write_bytes_atomic(path, buffer.getvalue())


def load_checkpoint(path: Path) -> dict:
    """A checked checkpoint dict (weights-only unpickling, tensors on CPU)."""
    if path.is_dir():
        raise CheckpointError("is a folder: give the checkpoint file (best.ckpt, say)", path)
    if not path.is_file():
        raise CheckpointError("checkpoint file not found", path)
    try:
        with warnings.catch_warnings():  # torch warns of pickle protocols before it refuses
            warnings.simplefilter("ignore", UserWarning)
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # unpickling stray bytes raises many unrelated types
        # torch's own text (advice to load with weights_only=False, which can run code) is no
        # help here: a bay-ice checkpoint holds only tensors and plain data.
        log.debug("torch.load(%s): %r", path, error)
        raise CheckpointError("not a PyTorch checkpoint, or corrupt, or holding objects "
                              "other than tensors and plain data", path) from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise CheckpointError(f"not a bay-ice checkpoint (no format {FORMAT!r})", path)
    if checkpoint.get("version") != VERSION:
        raise CheckpointError(f"checkpoint version {checkpoint.get('version')!r}, "
                              f"this code reads {VERSION}", path)
    if checkpoint.get("architecture") not in ARCHITECTURES:
        raise CheckpointError(f"unknown architecture {checkpoint.get('architecture')!r} "
                              f"(known: {', '.join(ARCHITECTURES)})", path)
    if not grid.matches(checkpoint.get("grid", {})):
        raise CheckpointError("checkpoint made for another grid", path)
    _check_finite(checkpoint, path)
    return checkpoint


def _check_finite(checkpoint: dict, path: Path) -> None:
    """CheckpointError when the weights or the normalisation hold NaN or infinite values (or a
    standard deviation that is not positive): such a model gives NaN probabilities, which an
    export, an evaluation or a resumed run would otherwise carry on with."""
    state = checkpoint.get("state_dict")
    preprocessing = checkpoint.get("preprocessing")
    if not isinstance(state, dict) or not isinstance(preprocessing, dict):
        raise CheckpointError("checkpoint lacks its weights or preprocessing", path)
    bad = [name for name, tensor in state.items()
           if torch.is_tensor(tensor) and tensor.is_floating_point()
           and not bool(torch.isfinite(tensor).all())]
    if bad:
        more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
        raise CheckpointError(f"weights hold NaN or infinite values ({bad[0]}{more})", path)
    try:
        mean, std = (np.asarray(preprocessing[key], dtype=np.float64) for key in ("mean", "std"))
    except (KeyError, TypeError, ValueError):
        raise CheckpointError("checkpoint preprocessing lacks numeric mean / std", path) from None
    if not (np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all()):
        raise CheckpointError("normalisation mean / std hold NaN, infinite or non-positive std "
                              "values", path)


def model_from_checkpoint(checkpoint: dict, path: Path) -> SSegm:
    """The checkpoint's model with its weights and normalisation, in eval mode."""
    preprocessing = checkpoint["preprocessing"]
    model = build_model(checkpoint["architecture"], preprocessing["mean"], preprocessing["std"])
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except (RuntimeError, KeyError, TypeError) as error:
        reason = str(error).strip().splitlines()[0]
        raise CheckpointError(f"weights do not fit {checkpoint['architecture']} ({reason})",
                              path) from None
    return model.eval()

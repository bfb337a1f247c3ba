"""Train SSegm M20.1 / M21.1 the way the talk did (slide 14) on a dataset folder.

Defaults: Adam (learning rate 1e-3, PyTorch's betas), batch 32, 570 epochs, a seeded stratified
85/15 split, DiceBCELoss, and the kept model is the epoch with the maximum validation IoU.

Which cells count: water cells of the runtime's land mask that have data in every band. Land
and no-data cells are out of the loss and the metrics. Cells under opaque cloud ("obscured")
stay in the loss with their label 0 (the contract's label), and the metrics are reported both
without them (the primary IoU/accuracy, used to pick the best epoch) and with them. The
all-cells accuracy (every cell with data, land included and always "not ice", as in the
runtime's map) is reported for comparison with the talk's figures.

Augmentation is radiometric only (the geography is fixed, so no flips or shifts): per scene and
band a gain of 1 +- 5 % and an offset of +- 0.005 reflectance, plus per-cell noise of 0.003.

Each epoch writes `last.ckpt`, `metrics.csv` and `curve.png` in the run folder, and `best.ckpt`
when validation IoU improves. The loss recorded for each split is Dice+BCE over all the split's
counted cells as one set (`training.losses.loss_from_sums`), so it does not depend on the batch
size and the training and validation figures compare. Every random draw comes from the seed
and the epoch number, so a run resumed from `last.ckpt` continues exactly as if it had not
stopped (bitwise on the CPU; on CUDA, cuDNN's transposed-convolution gradients are not bitwise
reproducible).

Speed: the model and its inputs are kept channels-last (oneDNN's fast layout: 1.4-1.9x on an
AVX-512 host, 0.9-1.2x on an AVX2 one), and the training forward pass runs under mixed precision
where the hardware has it natively: float16 with a gradient scaler on CUDA, bfloat16 on a CPU
with AVX512-BF16 or AMX (a further 1.3-1.7x there; emulated elsewhere, where it is 3.4-4.8x
slower; BENCHMARKS.md). Weights, optimizer state and the loss stay float32, and the
validation pass runs in float32, as the exported model does, so the kept epoch is chosen on the
numbers the stations will see.
"""

from __future__ import annotations

import csv
import functools
import io
import itertools
import logging
import math
import textwrap
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from runtime import landmask
from runtime.errors import CheckpointError, DatasetError, OutputError, ProviderUnavailable
from runtime.outputs import output_directory, write_bytes_atomic
from training.architectures import DISPLAY_NAMES
from training.checkpoint import load_checkpoint, make_checkpoint, save_checkpoint
from training.dataset import Dataset, band_statistics, load_dataset, split
from training.losses import dice_bce_sums, loss_from_sums
from training.metrics import Confusion, confusion
from training.models import SSegm, build_model

log = logging.getLogger(__name__)

GAIN_SIGMA = 0.05
OFFSET_SIGMA = 0.005
NOISE_SIGMA = 0.003
DEFAULT_LEARNING_RATE = 1e-3  # Adam's usual rate; the talk gives none


@dataclass
class TrainConfig:
    """Everything that decides a training run (stored in its checkpoints)."""

    architecture: str = "m21.1"
    epochs: int = 570
    batch_size: int = 32
    learning_rate: float = DEFAULT_LEARNING_RATE
    seed: int = 0
    validation_fraction: float = 0.15
    augment: bool = False  # radiometric jitter; off by default (models/checkpoints/README.md)
    limit: int | None = None


@dataclass
class CellMasks:
    """Per-scene bool (N, 285, 430) masks of the cells that count."""

    loss: torch.Tensor  # water with data (obscured included, label 0)
    clear: torch.Tensor  # water with data, not obscured: the primary metrics
    all_cells: torch.Tensor  # every cell with data, land included


@functools.cache
def water() -> torch.Tensor:
    """The land mask's water cells, bool (285, 430)."""
    return torch.from_numpy(landmask.water_mask())


def cell_masks(dataset: Dataset) -> CellMasks:
    """The masks of every scene: land mask, no-data and obscured cells."""
    valid = ~torch.isnan(dataset.crops).any(dim=1)
    loss = valid & water()
    return CellMasks(loss, loss & (dataset.obscured == 0), valid)


def pick_device(requested: str | None = None) -> torch.device:
    """The device asked for ("cpu" or "cuda"), by default CUDA when available, else the CPU."""
    if requested == "cuda" and not torch.cuda.is_available():
        raise ProviderUnavailable("CUDA was asked for but is not available here (valid: cpu)")
    if requested:
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _native_bf16_cpu() -> bool:
    """Whether this CPU computes bfloat16 in hardware (elsewhere bf16 is emulated, slower)."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def mixed_precision_dtype(
    device: torch.device, requested: bool | None = None
) -> torch.dtype | None:
    """The autocast dtype of training steps on `device`, None for float32.

    By default (`requested` None) float16 on CUDA and bfloat16 on a CPU that has it natively;
    True asks for it anyway (bfloat16 on any CPU), False turns it off.
    """
    if requested is False:
        return None
    if device.type == "cuda":
        return torch.float16
    return torch.bfloat16 if requested or _native_bf16_cpu() else None


def jitter(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Radiometric augmentation of a reflectance batch; NaN stays NaN."""
    n, bands = x.shape[:2]
    gain = 1 + GAIN_SIGMA * torch.randn(n, bands, 1, 1, generator=generator, device=x.device)
    offset = OFFSET_SIGMA * torch.randn(n, bands, 1, 1, generator=generator, device=x.device)
    noise = NOISE_SIGMA * torch.randn(x.shape, generator=generator, device=x.device)
    return x * gain + offset + noise


class Tally:
    """Running loss sums and confusion counts of one split in one epoch.

    The split's loss is Dice+BCE over all its counted cells as one set (`loss_from_sums`),
    not the mean of per-batch losses, which depends on the batching (see training.losses).
    """

    def __init__(self) -> None:
        self.loss_sums = torch.zeros(5, dtype=torch.float64)
        self.clear = Confusion()
        self.with_obscured = Confusion()
        self.all_cells = Confusion()

    def add(self, loss_sums: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor,
            masks: CellMasks) -> None:
        # probability > 0.5; land is never ice, as in the runtime's map (all-cells accuracy)
        predicted = (logits[:, 0] > 0) & water().to(logits.device)
        truth = labels == 1
        self.loss_sums += loss_sums.detach().cpu().double()
        self.clear += confusion(predicted, truth, masks.clear)
        self.with_obscured += confusion(predicted, truth, masks.loss)
        self.all_cells += confusion(predicted, truth, masks.all_cells)

    def metrics(self) -> dict[str, float]:
        return {
            "loss": float(loss_from_sums(self.loss_sums)),
            **self.clear.scores(),
            "iou_with_obscured": self.with_obscured.iou,
            "accuracy_with_obscured": self.with_obscured.accuracy,
            "accuracy_all_cells": self.all_cells.accuracy,
        }


def _batch(
    dataset: Dataset, masks: CellMasks, idx: list[int], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, CellMasks]:
    """Crops, labels and masks of scenes `idx`, on `device`."""
    x = dataset.crops[idx].to(device).contiguous(memory_format=torch.channels_last)
    y = dataset.labels[idx].to(device)
    m = CellMasks(*(t[idx].to(device) for t in (masks.loss, masks.clear, masks.all_cells)))
    return x, y, m


def training_step(
    model: SSegm,
    x: torch.Tensor,
    y: torch.Tensor,
    weight: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    autocast_dtype: torch.dtype | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One Adam step on a batch (forward under autocast to `autocast_dtype` when given, Dice+BCE
    over the cells where `weight` is 1, backward); returns the detached logits and loss sums."""
    with torch.autocast(x.device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
        logits = model(x)
    sums = dice_bce_sums(logits[:, 0], y, weight)
    loss = loss_from_sums(sums)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return logits.detach(), sums.detach()


def run_epoch(
    model: SSegm,
    dataset: Dataset,
    masks: CellMasks,
    indices: list[int],
    config: TrainConfig,
    device: torch.device,
    epoch: int,
    optimizer: torch.optim.Optimizer | None = None,
    scaler: torch.amp.GradScaler | None = None,
    show_progress: bool = False,
    autocast_dtype: torch.dtype | None = None,
) -> dict[str, float]:
    """One pass over `indices`: training when an optimizer is given, else evaluation (always
    float32); training steps run under autocast to `autocast_dtype` when one is given."""
    training = optimizer is not None
    model.train(training)
    order = torch.tensor(indices)
    if training:
        shuffle = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
        order = order[torch.randperm(len(order), generator=shuffle)]
        noise = torch.Generator(device=device).manual_seed(config.seed * 100_019 + epoch)
    tally = Tally()
    batches = list(torch.split(order, config.batch_size))
    bar = tqdm(batches, desc=f"epoch {epoch} {'train' if training else 'val'}", leave=False,
               disable=not show_progress, unit="batch")
    for chunk in bar:
        x, y, m = _batch(dataset, masks, chunk.tolist(), device)
        if training:
            if config.augment:
                x = jitter(x, noise)
            logits, sums = training_step(model, x, y, m.loss, optimizer, scaler, autocast_dtype)
        else:
            with torch.no_grad():
                logits = model(x)
                sums = dice_bce_sums(logits[:, 0], y, m.loss)
        tally.add(sums, logits, y, m)
        bar.set_postfix(loss=f"{tally.metrics()['loss']:.4f}", iou=f"{tally.clear.iou:.4f}")
    return tally.metrics()


def _finite(metrics: dict[str, float]) -> dict[str, float | None]:
    """NaN scores (no ice anywhere) as None, so they stay valid JSON downstream."""
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in metrics.items()}


def write_history_csv(history: list[dict], path: Path) -> None:
    """One row per epoch: train_* and val_* metrics and the epoch's seconds."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(history[0]))
    writer.writeheader()
    writer.writerows(history)
    write_bytes_atomic(path, buffer.getvalue().encode())


def learning_rate_schedule(history: list[dict]) -> list[tuple[int, float]]:
    """(epoch, rate) of the first epoch and wherever a resume changed the learning rate."""
    return [(row["epoch"], row["learning_rate"]) for before, row
            in itertools.pairwise([{"learning_rate": None}, *history])
            if row["learning_rate"] != before["learning_rate"]]


def plot_curve(history: list[dict], architecture: str, data: str, path: Path) -> None:
    """Train and validation IoU per epoch, the best epoch and any change of the learning rate
    marked (like the talk's slide 14)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    epochs = [row["epoch"] for row in history]
    val = [math.nan if row["val_iou"] is None else row["val_iou"] for row in history]
    train = [math.nan if row["train_iou"] is None else row["train_iou"] for row in history]
    fig, ax = plt.subplots(figsize=(7, 4.4), dpi=100, layout="constrained")
    ax.plot(epochs, train, label=f"{architecture} train IoU")
    ax.plot(epochs, val, label=f"{architecture} validation IoU")
    if any(not math.isnan(v) for v in val):
        best = max(range(len(val)), key=lambda i: -1 if math.isnan(val[i]) else val[i])
        ax.scatter([epochs[best]], [val[best]], color="k", zorder=3,
                   label=f"best: epoch {epochs[best]}, IoU {val[best]:.4f}")
    for epoch, rate in learning_rate_schedule(history)[1:]:
        ax.axvline(epoch - 0.5, color="0.5", linestyle=":", linewidth=1)
        ax.annotate(f"lr {rate:g}", (epoch - 0.5, 0.02), xycoords=("data", "axes fraction"),
                    rotation=90, fontsize=7, color="0.35", ha="right")
    ax.set_xlabel("epoch")
    ax.set_ylabel("IoU of the ice class (water cells)")
    ax.set_title(f"{DISPLAY_NAMES[architecture]}: IoU per epoch\n"
                 + textwrap.fill(textwrap.shorten(data, 180), 90), fontsize=8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    write_bytes_atomic(path, buffer.getvalue())


#: What a run folder holds once a run has finished an epoch.
RUN_FILES = ("last.ckpt", "best.ckpt", "metrics.csv")


def check_run_folder(out_dir: Path, resume: bool) -> None:
    """Refuse a run that would overwrite another one's files, or a resume with nothing to
    resume from (a mistyped folder would otherwise train from scratch for hours)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError("the run folder is a file", out_dir)
    if resume and not (out_dir / "last.ckpt").is_file():
        raise CheckpointError("nothing to resume: no last.ckpt in the run folder", out_dir)
    if resume and not (out_dir / "best.ckpt").is_file():
        raise CheckpointError("no best.ckpt beside last.ckpt in the run folder: a resume keeps "
                              "both", out_dir)
    held = [name for name in RUN_FILES if (out_dir / name).exists()]
    if not resume and held:
        raise OutputError(f"the run folder holds a run ({', '.join(held)}); continue it with "
                          "--resume or choose another folder", out_dir)


def _resume_state(out_dir: Path, config: TrainConfig) -> dict:
    path = out_dir / "last.ckpt"
    checkpoint = load_checkpoint(path)
    if "resume" not in checkpoint:
        raise CheckpointError("not a resumable run (no optimiser state)", path)
    if checkpoint["architecture"] != config.architecture:
        raise CheckpointError(f"the run is {checkpoint['architecture']}, not "
                              f"{config.architecture}: resume it with --model "
                              f"{checkpoint['architecture']}", path)
    return checkpoint


def _resumed_config(previous: dict, asked: TrainConfig, resume_learning_rate: float | None,
                    resume_epochs: int | None, path: Path) -> TrainConfig:
    """The run's own configuration, with the epoch count and learning rate asked for (else
    its own); other options asked for (not left at their defaults) that differ from the
    run's are named and ignored."""
    kept = dict(previous["train_config"]["config"])
    if resume_epochs is not None:
        kept["epochs"] = resume_epochs
    if resume_learning_rate is not None:
        kept["learning_rate"] = resume_learning_rate
    done = len(previous["resume"]["history"])
    if kept["epochs"] <= done:
        raise CheckpointError(f"the run has done {done} of its {kept['epochs']} epochs: give "
                              f"--epochs above {done} to go on", path)
    defaults = TrainConfig()
    for name, value in asdict(asked).items():
        if name not in ("epochs", "learning_rate") and value != kept.get(name) \
                and value != getattr(defaults, name):
            log.warning("--resume keeps the run's %s (%s): %s ignored", name, kept.get(name),
                        value)
    return TrainConfig(**kept)


@dataclass
class Run:
    """What a training run carries from epoch to epoch (and what a resume restores)."""

    config: TrainConfig
    model: SSegm
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    history: list[dict]
    best_iou: float = -1.0


def _start_run(config: TrainConfig, mean: list[float], std: list[float], device: torch.device,
               autocast_dtype: torch.dtype | None, previous: dict | None) -> Run:
    """A fresh run, or the run saved in `previous` (a last.ckpt)."""
    model = build_model(config.architecture, mean, std)
    model = model.to(device, memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    scaler = torch.amp.GradScaler(device.type, enabled=autocast_dtype == torch.float16)
    if previous is None:
        return Run(config, model, optimizer, scaler, [])
    model.load_state_dict(previous["state_dict"])
    history = previous["resume"]["history"]
    for row in history:  # saved by code that ran one rate per run and did not record it
        row.setdefault("learning_rate", previous["train_config"]["config"]["learning_rate"])
    optimizer.load_state_dict(previous["resume"]["optimizer"])
    for group in optimizer.param_groups:  # a resume may lower the learning rate
        group["lr"] = config.learning_rate
    if previous["resume"]["scaler"]:  # empty when saved without float16 (a CPU run, say)
        scaler.load_state_dict(previous["resume"]["scaler"])
    return Run(config, model, optimizer, scaler, history, previous["resume"]["best_iou"])


def _record_epoch(run: Run, row: dict, val_metrics: dict[str, float], out_dir: Path,
                  train_config: dict, data: str) -> None:
    """Append the epoch's row; write best.ckpt (if better), last.ckpt, the CSV and the plot."""
    run.history.append(row)
    epoch, architecture = row["epoch"], run.config.architecture
    metrics = _finite(val_metrics) | {"train_iou": row["train_iou"],
                                      "train_accuracy": row["train_accuracy"]}
    train_config = train_config | {"learning_rate_schedule": learning_rate_schedule(run.history)}
    checkpoint = make_checkpoint(architecture, run.model, epoch, metrics, train_config, data)
    val_iou = -1.0 if math.isnan(val_metrics["iou"]) else val_metrics["iou"]
    if val_iou > run.best_iou or epoch == 1:
        run.best_iou = max(val_iou, run.best_iou)
        save_checkpoint(checkpoint, out_dir / "best.ckpt")
    checkpoint["resume"] = {"optimizer": run.optimizer.state_dict(),
                            "scaler": run.scaler.state_dict(),
                            "history": run.history, "best_iou": run.best_iou}
    save_checkpoint(checkpoint, out_dir / "last.ckpt")
    write_history_csv(run.history, out_dir / "metrics.csv")
    plot_curve(run.history, architecture, data, out_dir / "curve.png")


def _check_split(dataset: Dataset, train_idx: list[int], val_idx: list[int],
                 names: dict[str, list[str]], previous: dict | None) -> None:
    """Refuse a split that cannot train (no ice to learn) or whose scene `names` are not the
    resumed run's (the same split seed on another dataset would mix validation scenes into
    training)."""
    if not train_idx or not val_idx:
        raise DatasetError(f"{len(dataset)} scenes are too few for a training and a validation "
                           "part (a split needs two scenes of one kind)", dataset.root)
    if not any(dataset.labels[i].any() for i in train_idx):
        raise DatasetError("the training scenes hold no ice cell: nothing to learn",
                           dataset.root)
    if not any(dataset.labels[i].any() for i in val_idx):
        log.warning("%s: the validation scenes hold no ice cell: IoU is undefined and the best "
                    "epoch cannot be chosen by it", dataset.root)
    split_then = (previous or {}).get("train_config", {}).get("split")
    if split_then is not None and any(split_then[k] != v for k, v in names.items()):
        raise DatasetError("not the resumed run's scenes (its split differs): resume on the "
                           f"run's dataset, {previous['train_config']['dataset']}", dataset.root)


def train(dataset_path: Path, out_dir: Path, config: TrainConfig, resume: bool = False,
          device: str | None = None, show_progress: bool = True,
          mixed_precision: bool | None = None,
          resume_learning_rate: float | None = None, resume_epochs: int | None = None) -> dict:
    """Train, writing checkpoints, CSV and plot into `out_dir`; return the best checkpoint's
    validation metrics; `out_dir` must not hold another run (`check_run_folder`), and is made
    once the dataset has loaded. With `resume`, continue from `out_dir/last.ckpt`: its configuration
    wins, except the number of epochs when `resume_epochs` is given and Adam's learning rate
    from the next epoch on when `resume_learning_rate` is (a step decay by hand; each epoch's
    rate is in the CSV). `mixed_precision`: see `mixed_precision_dtype`."""
    dev = pick_device(device)
    autocast_dtype = mixed_precision_dtype(dev, mixed_precision)
    check_run_folder(out_dir, resume)
    previous = _resume_state(out_dir, config) if resume else None
    if previous is not None:
        config = _resumed_config(previous, config, resume_learning_rate, resume_epochs,
                                 out_dir / "last.ckpt")
    torch.manual_seed(config.seed)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True

    dataset = load_dataset(dataset_path, config.limit)
    masks = cell_masks(dataset)
    train_idx, val_idx = split(dataset, config.seed, config.validation_fraction)
    split_names = {"training": [dataset.names[i] for i in train_idx],
                   "validation": [dataset.names[i] for i in val_idx]}
    _check_split(dataset, train_idx, val_idx, split_names, previous)
    mean, std = band_statistics(dataset, train_idx)
    run = _start_run(config, mean, std, dev, autocast_dtype, previous)
    train_config = {
        "config": asdict(config),
        "dataset": str(dataset_path),
        "device": dev.type,
        "mixed_precision": None if autocast_dtype is None else str(autocast_dtype).split(".")[1],
        "split": {
            "seed": config.seed,
            "validation_fraction": config.validation_fraction,
            **split_names,
        },
    }
    data = f"{dataset.source}; {len(train_idx)} training / {len(val_idx)} validation scenes"
    log.info("%s on %s (training steps in %s): %s", config.architecture, dev,
             train_config["mixed_precision"] or "float32", data)

    # the run folder is made only now, so that a dataset error leaves none behind, and is
    # removed again if the run stops (Ctrl-C, say) before its first epoch is written
    with output_directory(out_dir):
        epochs = range(len(run.history) + 1, config.epochs + 1)
        bar = tqdm(epochs, desc=config.architecture, unit="epoch", disable=not show_progress)
        for epoch in bar:
            started = time.perf_counter()
            train_metrics = run_epoch(run.model, dataset, masks, train_idx, config, dev, epoch,
                                      run.optimizer, run.scaler, show_progress, autocast_dtype)
            val_metrics = run_epoch(run.model, dataset, masks, val_idx, config, dev, epoch,
                                    show_progress=show_progress)
            row = {"epoch": epoch, "learning_rate": run.optimizer.param_groups[0]["lr"]}
            row |= _finite({f"train_{k}": v for k, v in train_metrics.items()})
            row |= _finite({f"val_{k}": v for k, v in val_metrics.items()})
            row["seconds"] = round(time.perf_counter() - started, 2)
            _record_epoch(run, row, val_metrics, out_dir, train_config, data)
            log.info("epoch %d: train loss %.4f IoU %.4f, validation IoU %.4f (best %.4f), %.0f s",
                     epoch, train_metrics["loss"], train_metrics["iou"], val_metrics["iou"],
                     run.best_iou, row["seconds"])
            bar.set_postfix(loss=f"{train_metrics['loss']:.4f}",
                            val_iou=f"{val_metrics['iou']:.4f}", best=f"{run.best_iou:.4f}")
    return load_checkpoint(out_dir / "best.ckpt")["metrics"]

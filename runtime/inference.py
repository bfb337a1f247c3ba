"""ONNX Runtime inference: load a model file, check what it says about itself, run it.

Everything the runtime needs to know about a model (name, grid, bands, normalisation, threshold)
comes from the JSON object under the ``bay_ice`` key of the ONNX metadata, so a new model needs
no new runtime. A model made for another grid or band set is refused (:class:`IncompatibleModel`);
a file that is not such a model at all gets :class:`ModelError`.

onnxruntime is imported by the functions that make sessions, not with this module: the command
line imports every command, and ``ice-runtime crop`` never runs a model (about 0.1 s saved).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from runtime import grid
from runtime.errors import IncompatibleModel, ModelError, ProviderUnavailable

if TYPE_CHECKING:
    import onnxruntime as ort

log = logging.getLogger(__name__)

METADATA_KEY = "bay_ice"
FORMAT_VERSION = 1
INPUT_NAME = "reflectance"
OUTPUT_NAME = "probability"
#: What the model input holds; the only kind this runtime produces (the reader's output).
SUPPORTED_INPUT = "l1b_reflectance"

DEVICES = ("auto", "cpu", "cuda")
CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
#: onnxruntime session option: may idle intra-op threads spin-wait for work ("1", its default)?
SPINNING = "session.intra_op.allow_spinning"

# onnxruntime's own logger: 2 = warnings (its default), 4 = fatal only.
_ORT_DEFAULT_SEVERITY = 2
_ORT_QUIET_SEVERITY = 4


@dataclass(frozen=True)
class ModelMetadata:
    """What a model file says about itself (the ``bay_ice`` metadata), checked."""

    name: str
    architecture: str
    version: str
    bands: tuple[int, ...]
    input: str
    normalisation: dict
    grid: dict
    threshold: float
    metrics: dict
    checkpoint_sha256: str
    trained_on: str

    def to_dict(self) -> dict:
        """Plain data for JSON output."""
        return {
            "name": self.name,
            "architecture": self.architecture,
            "version": self.version,
            "bands": list(self.bands),
            "input": self.input,
            "normalisation": self.normalisation,
            "grid": self.grid,
            "threshold": self.threshold,
            "metrics": self.metrics,
            "checkpoint_sha256": self.checkpoint_sha256,
            "trained_on": self.trained_on,
        }


def parse_metadata(text: str | None, path: Path) -> ModelMetadata:
    """Parse and check the ``bay_ice`` metadata JSON of the model at ``path``."""
    if text is None:
        raise ModelError(f"no '{METADATA_KEY}' metadata: not a bay-ice model", path)
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as error:
        raise ModelError(f"'{METADATA_KEY}' metadata is not valid JSON ({error})", path) from None
    if not isinstance(meta, dict):
        raise ModelError(f"'{METADATA_KEY}' metadata is not a JSON object", path)
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelError(
            f"metadata format_version {meta.get('format_version')!r}, this runtime reads "
            f"{FORMAT_VERSION}",
            path,
        )
    missing = [k for k in ("name", "bands", "input", "normalisation", "grid", "threshold")
               if k not in meta]
    if missing:
        raise ModelError(f"metadata lacks {', '.join(missing)}", path)
    _check_compatible(meta, path)
    threshold = meta["threshold"]
    if not _is_number(threshold) or not 0 < threshold < 1:
        raise ModelError(f"metadata threshold {threshold!r} is not a number in (0, 1)", path)
    if not isinstance(meta.get("metrics", {}), dict):
        raise ModelError("metadata metrics is not a JSON object", path)
    return ModelMetadata(
        name=str(meta["name"]),
        architecture=str(meta.get("architecture", "")),
        version=str(meta.get("version", "")),
        bands=tuple(meta["bands"]),
        input=meta["input"],
        normalisation=meta["normalisation"],
        grid=meta["grid"],
        threshold=float(threshold),
        metrics=meta.get("metrics", {}),
        checkpoint_sha256=str(meta.get("checkpoint_sha256", "")),
        trained_on=str(meta.get("trained_on", "")),
    )


def _check_compatible(meta: dict, path: Path) -> None:
    """Refuse a model made for another grid, band set, input or normalisation scheme."""
    if not isinstance(meta["grid"], dict) or not grid.matches(meta["grid"]):
        raise IncompatibleModel(
            f"model grid {meta['grid']} is not this runtime's grid {grid.describe()}", path
        )
    if not isinstance(meta["bands"], list) or meta["bands"] != list(grid.BANDS):
        raise IncompatibleModel(
            f"model bands {meta['bands']}, this runtime provides bands {list(grid.BANDS)}", path
        )
    if meta["input"] != SUPPORTED_INPUT:
        raise IncompatibleModel(
            f"model input {meta['input']!r}, this runtime provides {SUPPORTED_INPUT!r}", path
        )
    norm = meta["normalisation"]
    if not isinstance(norm, dict) or not isinstance(norm.get("in_graph"), bool):
        raise ModelError("metadata normalisation needs 'in_graph': true or false", path)
    if not norm["in_graph"]:
        for key in ("mean", "std"):
            values = norm.get(key)
            if (not isinstance(values, list) or len(values) != len(grid.BANDS)
                    or not all(_is_number(v) and np.isfinite(v) for v in values)):
                raise ModelError(
                    f"normalisation outside the graph needs {len(grid.BANDS)} '{key}' numbers",
                    path,
                )
        if not all(v > 0 for v in norm["std"]):
            raise ModelError(f"normalisation std {norm['std']} must be positive", path)


def _is_number(value: object) -> bool:
    """A JSON number (not a bool, which Python counts as an int)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def thread_count(threads: int | None) -> int:
    """Intra-op threads: as asked, but no more than the CPUs this process may use."""
    cpus = usable_cpus()
    if threads is None:
        return cpus
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    if threads > cpus:
        log.warning("asked for %d threads, this process may use %d CPUs: using %d",
                    threads, cpus, cpus)
        return cpus
    return threads


@contextlib.contextmanager
def _quiet_ort() -> Iterator[None]:
    """Silence onnxruntime's stderr logging while trying providers (we report ourselves)."""
    import onnxruntime as ort

    ort.set_default_logger_severity(_ORT_QUIET_SEVERITY)
    try:
        yield
    finally:
        ort.set_default_logger_severity(_ORT_DEFAULT_SEVERITY)


def _create_session(path: Path, providers: list[str], threads: int) -> ort.InferenceSession:
    """A session whose worker threads sleep between runs instead of spin-waiting. A granule runs
    one inference between Python stages (read, quick-look, write), where spinning buys nothing
    (0.41-0.44 s per full granule either way on an AVX-512 host, BENCHMARKS.md), and sessions
    that take turns (the export's timing) would otherwise steal the CPUs from each other (M21.1
    on 2 cores: 67 ms per image beside two spinning sessions, 42 ms without spinning; alone,
    41-42 ms either way)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry(SPINNING, "0")
    options.log_severity_level = 3
    try:
        with _quiet_ort():
            return ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as error:  # onnxruntime raises several unrelated types for bad files
        raise ModelError(f"cannot load as an ONNX model ({_first_line(error)})", path) from None


def _first_line(error: Exception) -> str:
    """The first line of an onnxruntime error (they run to many), or its type when empty."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def open_session(path: Path, device: str, threads: int) -> ort.InferenceSession:
    """An inference session on the asked device; CUDA only when it really runs.

    ``auto`` tries CUDA when this onnxruntime build lists it and keeps it only if the created
    session actually uses it (the GPU build lists CUDA even where no GPU or CUDA library is
    present). ``cuda`` that cannot run raises :class:`ProviderUnavailable`, never falls back.
    """
    if device not in DEVICES:
        raise ValueError(f"device {device!r} is not one of {', '.join(DEVICES)}")
    import onnxruntime as ort

    available = ort.get_available_providers()
    if device == "cpu":
        return _create_session(path, [CPU], threads)
    if device == "cuda" and CUDA not in available:
        raise ProviderUnavailable(
            f"device cuda: this onnxruntime build has no CUDA provider "
            f"(available: {', '.join(available)})"
        )
    if CUDA not in available:
        return _create_session(path, [CPU], threads)
    session = _create_session(path, [CUDA, CPU], threads)
    if session.get_providers()[0] == CUDA:
        return session
    if device == "cuda":
        raise ProviderUnavailable(
            "device cuda: the CUDA provider is listed but could not be created here "
            "(no GPU, or CUDA/cuDNN libraries missing); use device cpu or auto"
        )
    log.info("CUDA provider listed but not working here; running on CPU")
    return session


def working_providers(path: Path) -> dict[str, bool]:
    """For each provider this onnxruntime build lists (CPU and CUDA), whether it runs here."""
    import onnxruntime as ort

    result = {}
    for provider in ort.get_available_providers():
        if provider not in (CPU, CUDA):
            continue
        session = _create_session(path, [provider, CPU] if provider != CPU else [CPU], 1)
        result[provider] = session.get_providers()[0] == provider
    return result


class Model:
    """A loaded, checked ice-segmentation model and its inference session."""

    def __init__(self, path: str | Path, device: str = "auto", threads: int | None = None) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise ModelError("is a folder: give the model file (an .onnx file)", self.path)
        if not self.path.is_file():
            raise ModelError("model file not found", self.path)
        self.threads = thread_count(threads)
        self.session = open_session(self.path, device, self.threads)
        self.metadata = parse_metadata(
            self.session.get_modelmeta().custom_metadata_map.get(METADATA_KEY), self.path
        )
        self._check_graph()
        self.sha256 = file_sha256(self.path)
        self.provider = self.session.get_providers()[0]
        log.info("model %s (%s) on %s, %d threads", self.metadata.name, self.path,
                 self.provider, self.threads)

    def _check_graph(self) -> None:
        """The graph must take one float32 input and give a float32 output of the contract's
        names and grid shape (as far as its declared dimensions tell: see `probability`)."""
        inputs = {i.name: i for i in self.session.get_inputs()}
        outputs = {o.name: o for o in self.session.get_outputs()}
        if list(inputs) != [INPUT_NAME] or OUTPUT_NAME not in outputs:
            raise ModelError(
                f"graph must take only '{INPUT_NAME}' and give '{OUTPUT_NAME}', it takes "
                f"{sorted(inputs)} and gives {sorted(outputs)}",
                self.path,
            )
        expected = ((inputs[INPUT_NAME], (len(grid.BANDS), grid.ROWS, grid.COLS)),
                    (outputs[OUTPUT_NAME], (1, grid.ROWS, grid.COLS)))
        for tensor, dims in expected:
            if tensor.type != "tensor(float)":
                raise IncompatibleModel(
                    f"graph {tensor.name} is {tensor.type}, this runtime needs tensor(float) "
                    "(float32)", self.path)
            shape = tensor.shape
            if len(shape) != 4 or any(isinstance(d, int) and d != e
                                      for d, e in zip(shape[1:], dims, strict=True)):
                raise IncompatibleModel(
                    f"graph {tensor.name} shape {shape}, this runtime needs (N, "
                    f"{', '.join(map(str, dims))})",
                    self.path,
                )

    def prepare(self, reflectance: np.ndarray) -> np.ndarray:
        """The model input (1, bands, rows, cols) from the reader's reflectance.

        Models that normalise inside the graph take the reader's output as is, NaN included;
        otherwise NaN becomes the band mean and the bands are standardised here.
        """
        x = np.asarray(reflectance, dtype=np.float32)[None]
        norm = self.metadata.normalisation
        if norm["in_graph"]:
            return np.ascontiguousarray(x)
        mean = np.asarray(norm["mean"], dtype=np.float32)[None, :, None, None]
        std = np.asarray(norm["std"], dtype=np.float32)[None, :, None, None]
        return np.ascontiguousarray((np.where(np.isnan(x), mean, x) - mean) / std)

    def probability(self, reflectance: np.ndarray) -> np.ndarray:
        """Ice probability of each cell, float32 (rows, cols), from reflectance (7, rows, cols).

        A model that fails to run, or gives another shape (symbolic dimensions can hide one) or
        values that are no probabilities, raises ModelError / IncompatibleModel: it would fail
        on every granule, so callers stop rather than go on to the next one."""
        try:
            (out,) = self.session.run([OUTPUT_NAME], {INPUT_NAME: self.prepare(reflectance)})
        except Exception as error:  # onnxruntime raises several unrelated types
            raise ModelError(f"the model fails to run ({_first_line(error)})", self.path) from None
        if out.shape != (1, 1, *grid.SHAPE):
            raise IncompatibleModel(f"the model gives shape {out.shape} for one scene, this "
                                    f"runtime needs (1, 1, {grid.ROWS}, {grid.COLS})", self.path)
        probability = out[0, 0]
        if not (np.isfinite(probability).all() and probability.min() >= 0
                and probability.max() <= 1):
            raise ModelError("the model's output is not a probability (values outside [0, 1] "
                             "or not finite)", self.path)
        return probability

"""Every failure a user or a station can cause, each with its own documented exit code.

The command-line tools catch :class:`BayIceError`, print ``<tool>: error: <message>`` on one line
to stderr and exit with the error's code. The table is repeated in the README.
"""

from __future__ import annotations

from pathlib import Path


class BayIceError(Exception):
    """Base of the project's expected errors: a one-line message and an exit code."""

    exit_code = 1

    def __init__(self, reason: str, path: str | Path | None = None) -> None:
        self.reason = reason
        self.path = None if path is None else str(path)
        super().__init__(f"{self.path}: {reason}" if self.path else reason)


class InputNotFound(BayIceError):
    """The path does not exist or cannot be read."""

    exit_code = 3


class NotHDF4(BayIceError):
    """The file is not an HDF4 file at all."""

    exit_code = 4


class CorruptFile(BayIceError):
    """An HDF4 file that is truncated or damaged, or whose data over the bay are all invalid."""

    exit_code = 5


class WrongProduct(BayIceError):
    """A readable HDF4 file that is not a MOD02HKM/MYD02HKM granule."""

    exit_code = 6


class MissingDataset(BayIceError):
    """A granule without a data set or attribute the reader needs."""

    exit_code = 7


class NightGranule(BayIceError):
    """A granule with no daytime reflective data over the bay."""

    exit_code = 8


class MissesBay(BayIceError):
    """A granule whose swath does not reach the bay."""

    exit_code = 9


class ModelError(BayIceError):
    """A model file that is missing, corrupt, or not an ice-segmentation model."""

    exit_code = 10


class IncompatibleModel(BayIceError):
    """A valid model made for another grid or band set."""

    exit_code = 11


class OutputError(BayIceError):
    """The output directory cannot be created or written."""

    exit_code = 12


class ProviderUnavailable(BayIceError):
    """An execution provider was asked for explicitly but cannot run here."""

    exit_code = 13


class CheckpointError(BayIceError):
    """A training checkpoint that is missing, corrupt or not one of ours."""

    exit_code = 14


class ParityError(BayIceError):
    """An exported ONNX model disagrees with its PyTorch source."""

    exit_code = 15


class DatasetError(BayIceError):
    """A training dataset folder that is missing or malformed."""

    exit_code = 16

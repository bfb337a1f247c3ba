"""Spatially correlated random fields: the texture of ice, clouds and land (numpy only).

Fields are Gaussian, zero mean and unit variance, with a power-law spectrum between two length
scales. They are synthesised in the Fourier domain: random complex coefficients, only for the
wavenumbers the spectrum lets through (smooth fields need few), times the spectral amplitude,
then one inverse FFT of the full raster.
"""

from __future__ import annotations

import numpy as np
from scipy import fft, special

#: Wavenumbers beyond this many e-folds of the small-scale cut-off are left out (exp(-7) ~ 1e-3).
_CUTOFF_EFOLDS = 7.0


def gaussian_field(
    shape: tuple[int, int],
    rng: np.random.Generator,
    smallest_px: float = 2.0,
    largest_px: float = 200.0,
    slope: float = 3.0,
    stretch: float = 1.0,
    angle_deg: float = 0.0,
) -> np.ndarray:
    """A unit-variance float32 random field with features from `smallest_px` to `largest_px`.

    `slope` is the spectral slope (about 3 for cloud and ice-concentration fields); `stretch`
    makes features `stretch` times longer along `angle_deg` (degrees counter-clockwise from the
    column axis) than across.
    """
    height, width = shape
    k_max = np.sqrt(_CUTOFF_EFOLDS) / smallest_px  # cycles per pixel
    n_rows = min(height // 2, int(np.ceil(k_max * height)))
    n_cols = min(width // 2, int(np.ceil(k_max * width)))
    rows = np.r_[0 : n_rows + 1, height - n_rows : height] if n_rows < height // 2 else None
    ky = np.fft.fftfreq(height).astype(np.float32)
    ky = (ky if rows is None else ky[rows])[:, None]
    kx = (np.arange(n_cols + 1, dtype=np.float32) / width)[None, :]
    angle = np.radians(angle_deg)
    along = kx * np.float32(np.cos(angle)) - ky * np.float32(np.sin(angle))
    across = kx * np.float32(np.sin(angle)) + ky * np.float32(np.cos(angle))
    k2 = (along * stretch) ** 2 + across**2
    amplitude = (k2 + np.float32(largest_px**-2)) ** np.float32(-slope / 4) * np.exp(
        -k2 * np.float32(smallest_px**2)
    )
    amplitude[0, 0] = 0.0
    coefficients = np.empty(amplitude.shape, dtype=np.complex64)
    coefficients.real = rng.standard_normal(amplitude.shape, dtype=np.float32) * amplitude
    coefficients.imag = rng.standard_normal(amplitude.shape, dtype=np.float32) * amplitude
    spectrum = np.zeros((height, width // 2 + 1), dtype=np.complex64)
    if rows is None:
        spectrum[:, : n_cols + 1] = coefficients
    else:
        spectrum[rows, : n_cols + 1] = coefficients
    field = fft.irfft2(spectrum, s=shape)
    field -= field.mean()
    field /= field.std() + np.float32(1e-12)
    return field.astype(np.float32, copy=False)


def to_uniform(field: np.ndarray) -> np.ndarray:
    """Map a unit Gaussian field to 0..1 with a uniform distribution (keeps its shapes)."""
    return special.ndtr(field).astype(np.float32)

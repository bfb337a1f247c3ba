import math
import subprocess
import sys

import pytest
import torch
from typer.testing import CliRunner

from training.architectures import PARAMETER_COUNTS
from training.cli import app
from training.models import build_model, count_parameters

# seed.md's table (slides 12-13) for a batch of 2, plus the shapes the table leaves open.
M21_SHAPES = {
    "input": (2, 7, 285, 430),
    "L1": (2, 64, 283, 428),
    "L1 -> L2": (2, 48, 283, 428),
    "L1 -> L12y": (2, 16, 283, 428),
    "L2": (2, 48, 140, 213),
    "L3": (2, 48, 69, 105),
    "L3 -> L4": (2, 32, 69, 105),
    "L3 -> L11z": (2, 16, 69, 105),
    "L4": (2, 64, 33, 51),
    "L5": (2, 64, 15, 24),  # = L6 input in the table
    "L6": (2, 64, 13, 22),
    "L7": (2, 64, 29, 47),  # = L8 input
    "L8": (2, 32, 33, 51),  # = L9 input
    "L9": (2, 16, 67, 103),
    "L10": (2, 8, 69, 105),  # = L11 input
    "L11": (2, 4, 141, 213),
    "L11z": (2, 4, 141, 213),
    "x11 + z11": (2, 4, 141, 213),
    "L12": (2, 1, 285, 430),
    "L12y": (2, 1, 285, 430),
    "x12 + y12": (2, 1, 285, 430),
}


@pytest.fixture(scope="module")
def crops():
    x = torch.rand(2, 7, 285, 430) * 0.3
    x[:, :, :20, :30] = math.nan
    return x


def test_m21_shapes_at_every_named_layer(crops):
    model = build_model("m21.1").eval()
    with torch.no_grad():
        tensors = model.intermediates(crops)
    assert {k: tuple(v.shape) for k, v in tensors.items()} == M21_SHAPES
    assert torch.isfinite(tensors["x12 + y12"]).all()


def test_m20_has_the_same_spatial_shapes(crops):
    model = build_model("m20.1").eval()
    with torch.no_grad():
        tensors = model.intermediates(crops)
    assert list(tensors) == list(M21_SHAPES)
    for name, tensor in tensors.items():
        assert tensor.shape[2:] == M21_SHAPES[name][2:], name
    assert tensors["x12 + y12"].shape == (2, 1, 285, 430)


@pytest.mark.parametrize("name", ["m21.1", "m20.1"])
def test_exact_trainable_parameters(name):
    model = build_model(name, mean=[0.2] * 7, std=[0.1] * 7)
    assert count_parameters(model) == PARAMETER_COUNTS[name]
    assert PARAMETER_COUNTS == {"m21.1": 301_132, "m20.1": 115_980}
    # normalisation lives in buffers, not parameters
    assert {"mean", "std"} <= set(dict(model.named_buffers()))


def test_nan_is_the_band_mean_and_normalisation_is_inside():
    mean = [0.01 * (b + 1) for b in range(7)]
    std = [0.05 + 0.01 * b for b in range(7)]
    model = build_model("m20.1", mean, std).eval()
    x = torch.rand(1, 7, 285, 430) * 0.3
    with_nan = x.clone()
    with_nan[0, 2, 100:110, 200:210] = math.nan
    filled = with_nan.clone()
    filled[0, 2, 100:110, 200:210] = mean[2]
    with torch.no_grad():
        normalised = model.normalise(x)
        a, b = model(with_nan), model(filled)
    expected = (x - torch.tensor(mean).view(1, 7, 1, 1)) / torch.tensor(std).view(1, 7, 1, 1)
    assert torch.allclose(normalised, expected, atol=1e-6)
    assert torch.equal(a, b)


def test_unknown_architecture_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"m21\.1, m20\.1"):
        build_model("m22")


def test_describe_prints_the_layers_and_total():
    result = CliRunner().invoke(app, ["describe", "m21.1"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    l9 = next(line for line in lines if line.startswith("L9 "))
    assert "ConvTranspose2d 32->16 3x3 stride 2" in l9 and "(?, 16, 67, 103)" in l9
    assert "4,656" in l9
    assert lines[-1] == "total trainable parameters: 301,132"
    table_sum = sum(int(line.split()[-1].replace(",", "")) for line in lines[2:-1])
    assert table_sum == 301_132


def test_describe_refuses_an_unknown_model():
    result = CliRunner().invoke(app, ["describe", "m9"])
    assert result.exit_code == 2
    assert "m21.1, m20.1" in result.output


def test_search_script_finds_exactly_the_chosen_reading():
    from training.scripts.search_architecture import family_count, m21_readings

    readings = m21_readings()
    assert readings == [{"L4": 64, "skip": "none", "L9_kernel": "3x3", "L11": 4, "merge": "add",
                         "bias": True, "affine": True, "L12_bn": False}]
    for name, widths in (("m21.1", (64, 16, 48, 48, 16, 64, 64, 64, 64, 32, 16, 8, 4)),
                         ("m20.1", (24, 8, 24, 24, 8, 40, 40, 40, 40, 24, 16, 8, 4))):
        assert family_count(widths) == PARAMETER_COUNTS[name]
    # the legend's 5x5 kernel for L9 misses the count by 32 * 16 * (25 - 9)
    assert family_count((64, 16, 48, 48, 16, 64, 64, 64, 64, 32, 16, 8, 4), 25) == 309_324


def test_the_command_line_starts_without_torch():
    """train-ssegm synth / preview / stats (and synth's spawned workers) never load torch."""
    code = "import sys, training.cli; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0

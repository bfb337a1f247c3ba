"""Tiny ONNX models that follow the model file contract, made with onnx.helper for the tests.

The graph is a brightness rule, not a trained network: probability = sigmoid(GAIN * (band 4 -
LEVEL)), NaN read as 0. It has the contract's input, output and ``bay_ice`` metadata, so the
runtime cannot tell it from an exported SSegm model, and its answer is known in advance.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from runtime import grid

GAIN = 40.0
LEVEL = 0.3
BAND_4 = 3  # index of MODIS band 4 in model order


def metadata(**changes) -> dict:
    """The contract's ``bay_ice`` metadata of the test model, with ``changes`` applied."""
    meta = {
        "format_version": 1,
        "name": "Test brightness rule",
        "architecture": "test",
        "version": "0.0.1",
        "bands": list(grid.BANDS),
        "input": "l1b_reflectance",
        "normalisation": {"in_graph": True, "mean": [0.0] * 7, "std": [1.0] * 7},
        "grid": grid.describe(),
        "threshold": 0.5,
        "metrics": {},
        "checkpoint_sha256": "0" * 64,
        "trained_on": "nothing: a fixed rule made for the tests",
    }
    meta.update(changes)
    return meta


def expected_probability(reflectance: np.ndarray) -> np.ndarray:
    """What the test model returns for reflectance (7, rows, cols), float32 (rows, cols)."""
    b4 = np.nan_to_num(reflectance[BAND_4].astype(np.float32), nan=0.0)
    return (1 / (1 + np.exp(-GAIN * (b4 - LEVEL)))).astype(np.float32)


def make_model(path: Path, meta: dict | None = None, rows: int = grid.ROWS,
               cols: int = grid.COLS, with_metadata: bool = True) -> Path:
    """Write the test model to ``path``; ``meta`` replaces the metadata, rows/cols the shape."""
    x = helper.make_tensor_value_info("reflectance", TensorProto.FLOAT, ["N", 7, rows, cols])
    y = helper.make_tensor_value_info("probability", TensorProto.FLOAT, ["N", 1, rows, cols])
    consts = {
        "zero": np.array(0.0, np.float32),
        "gain": np.array(GAIN, np.float32),
        "level": np.array(LEVEL, np.float32),
        "starts": np.array([BAND_4], np.int64),
        "ends": np.array([BAND_4 + 1], np.int64),
        "axes": np.array([1], np.int64),
    }
    nodes = [
        helper.make_node("IsNaN", ["reflectance"], ["isnan"]),
        helper.make_node("Where", ["isnan", "zero", "reflectance"], ["clean"]),
        helper.make_node("Slice", ["clean", "starts", "ends", "axes"], ["b4"]),
        helper.make_node("Sub", ["b4", "level"], ["centred"]),
        helper.make_node("Mul", ["centred", "gain"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["probability"]),
    ]
    initializers = [numpy_helper.from_array(value, name) for name, value in consts.items()]
    graph = helper.make_graph(nodes, "test-brightness-rule", [x], [y], initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if with_metadata:
        helper.set_model_props(model, {"bay_ice": json.dumps(meta or metadata())})
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def make_odd_model(path: Path, kind: str) -> Path:
    """A model with the contract's metadata whose graph breaks the contract in one way.

    ``kind``: float16 (float16 input and output), two_inputs (a second required input),
    short_output (symbolic dimensions hiding an output of 10 rows).
    """
    rows, cols = grid.ROWS, grid.COLS
    dtype = TensorProto.FLOAT16 if kind == "float16" else TensorProto.FLOAT
    shape_in = ["N", "C", "H", "W"] if kind == "short_output" else ["N", 7, rows, cols]
    shape_out = ["N", "C2", "H2", "W2"] if kind == "short_output" else ["N", 1, rows, cols]
    inputs = [helper.make_tensor_value_info("reflectance", dtype, shape_in)]
    stop_row = 10 if kind == "short_output" else rows
    consts = {"starts": np.array([BAND_4, 0], np.int64),
              "ends": np.array([BAND_4 + 1, stop_row], np.int64),
              "axes": np.array([1, 2], np.int64)}
    nodes = [helper.make_node("Slice", ["reflectance", "starts", "ends", "axes"], ["band"])]
    if kind == "two_inputs":
        inputs.append(helper.make_tensor_value_info("other", dtype, ["N", 1, rows, cols]))
        nodes.append(helper.make_node("Add", ["band", "other"], ["probability"]))
    else:
        nodes.append(helper.make_node("Identity", ["band"], ["probability"]))
    output = helper.make_tensor_value_info("probability", dtype, shape_out)
    initializers = [numpy_helper.from_array(value, name) for name, value in consts.items()]
    graph = helper.make_graph(nodes, kind, inputs, [output], initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, {"bay_ice": json.dumps(metadata())})
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path

"""The shipped ONNX models (data only). The runtime finds them with importlib.resources."""

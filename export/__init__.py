"""Export of training checkpoints to the ONNX models the stations run, with proven parity."""

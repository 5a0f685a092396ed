//! Reference math for convolutional layers, shared by the ONNX and forward-pass tests.

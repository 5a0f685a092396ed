//! Reference math for recurrent layers, shared by the ONNX and forward-pass tests.

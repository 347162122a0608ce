"""The convHVAE's edge convolutions that `conv_grad` and `torch_conv_grad`
time (thin inputs and outputs, strided input gradients; BUILD_NOTES,
session 25). Plain Python, so the PyTorch benchmark's venv needs no JAX.

Each entry: (name, input [N, H, W, C], kernel [k, k, C, D] (HWIO), stride,
padding).
"""

EDGE_LAYERS = (
    ("VampPrior pseudo-inputs, 7x7 1 -> 64", (500, 28, 28, 1), (7, 7, 1, 64),
     1, 3),
    ("decoder mean, 3x3 64 -> 1", (100, 28, 28, 64), (3, 3, 64, 1), 1, 1),
    ("pseudo-inputs, stride 2, 3x3 32 -> 64", (500, 28, 28, 32),
     (3, 3, 32, 64), 2, 1),
    ("pseudo-inputs, stride 2, 3x3 64 -> 128", (500, 14, 14, 64),
     (3, 3, 64, 128), 2, 1),
)

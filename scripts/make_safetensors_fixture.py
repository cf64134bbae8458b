"""A safetensors file written by Python's `safetensors` library, for Backprop's reader test.

Writes Tests/BackpropTests/Fixtures/python_written.safetensors. The values are simple formulas
that the Swift test re-creates. Run: /work/venv/bin/python scripts/make_safetensors_fixture.py
"""
import os
import torch
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "BackpropTests", "Fixtures", "python_written.safetensors")
tensors = {
    "matrix_f32": (torch.arange(6, dtype=torch.float32) / 4 - 0.5).reshape(2, 3),
    "vector_f64": torch.tensor([1.5, -2.25, 1e-300, 3.141592653589793], dtype=torch.float64),
    "ids_i64": torch.tensor([-3, 0, 2**40], dtype=torch.int64),
    "scalar_f32": torch.tensor(3.5, dtype=torch.float32),
    "empty_f32": torch.zeros(0, 3, dtype=torch.float32),
    "cube_f64": torch.arange(24, dtype=torch.float64).reshape(2, 3, 4) * -0.125,
}
save_file(tensors, OUT, metadata={"source": "python safetensors", "note": "quote \" and backslash \\"})
print("wrote", OUT)

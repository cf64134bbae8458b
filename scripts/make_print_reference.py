"""Writes Tests/BackpropTests/Fixtures/printing.json: PyTorch's repr of a set of tensors.

Run with a Python that has torch: python3 scripts/make_print_reference.py
"""
import json, os, torch

cases = []
def add(name, t):
    cases.append({"name": name, "shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", ""),
                  "data": t.detach().reshape(-1).tolist(), "requires_grad": t.requires_grad and t.is_leaf,
                  "repr": repr(t)})

add("int_valued_row", torch.tensor([[4.0, 14.0]]))
add("notebook_W", torch.tensor([[1.0, 2.0], [2.0, 1.0]], requires_grad=True))
add("softmax_sci", torch.tensor([[4.539786823443137e-05, 0.9999545812606812]]))
add("fixed", torch.tensor([[-0.9999545812606812, 0.9999545812606812]]))
add("scalar", torch.tensor(10.000045776367188))
add("scalar_int", torch.tensor(30.0))
add("float64", torch.tensor([[1.5, -2.25], [3.0, 4.125]], dtype=torch.float64))
add("int64", torch.tensor([0, 12, -3]))
add("zeros", torch.zeros(2, 3))
add("negative_zero_mixed", torch.tensor([0.0, -1.5, 2.0]))
add("big", torch.tensor([1.0e9, 2.0]))
add("tiny", torch.tensor([1.0e-5, 0.5]))
add("wide_row", torch.arange(30, dtype=torch.float32) / 7)
add("3d", torch.arange(24, dtype=torch.float32).reshape(2, 3, 4))
add("summarized", torch.arange(2000, dtype=torch.float32).reshape(40, 50) / 3)
add("summarized_1d", torch.arange(1500, dtype=torch.float32))
add("empty_1d", torch.zeros(0))
add("empty_2d", torch.zeros(0, 3))
add("requires_grad_vector", torch.tensor([0.1, 0.2], requires_grad=True))
add("float64_requires_grad", torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True))
out = os.path.join(os.path.dirname(__file__), "..", "Tests", "BackpropTests", "Fixtures", "printing.json")
with open(out, "w") as f:
    json.dump({"generator": f"PyTorch {torch.__version__}", "cases": cases}, f, indent=1)
print(f"wrote {len(cases)} cases to {out}")

"""Safetensors files in every dtype Backprop reads, written by Python's `safetensors` library with
PyTorch's own conversions, for the reader and writer tests (SafeTensorsDTypeTests).

Writes Tests/BackpropTests/Fixtures/python_dtypes.safetensors:
    source_f32   float32 values chosen to exercise rounding: ties, subnormals, overflow, inf, NaN
    as_f16       source_f32.half()        (F16)
    as_bf16      source_f32.bfloat16()    (BF16)
    source_f64   float64 values, among them one that rounds differently directly and through float32
    f64_as_f16   source_f64.half()        (F16: how PyTorch rounds a double to half)
    f64_as_bf16  source_f64.bfloat16()    (BF16)
    i8 i16 i32 u8 u16 u32 u64 bool        the extremes of each integer type
The Swift test reads the file (F16/BF16 into float32 and float64, the integers into int64) and
checks that encoding source_f32 / source_f64 as F16 and BF16 gives PyTorch's bytes.
Run: /tmp/tv/bin/python scripts/make_dtype_fixtures.py   (needs torch and safetensors)
"""
import os
import torch
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "BackpropTests", "Fixtures",
                   "python_dtypes.safetensors")

special = [0.0, -0.0, 1.0, -2.5, 0.1, 1 / 3,
           1 + 2**-11, 1 + 3 * 2**-11, -(1 + 2**-11),        # half-precision ties: to even
           1 + 2**-8, 1 + 3 * 2**-8, 1 + 2**-8 + 2**-20,      # bfloat16 ties, and just above one
           65504.0, 65519.0, 65520.0, 1e5, -1e5,              # half's largest, last below the round-up, overflow
           2**-14, 2**-15, 2**-24, 2**-25, 3 * 2**-26, 1e-8, 1e-10,   # half subnormals and underflow
           3.0e38, 3.4e38, -3.4e38, 1e-40,                    # bfloat16 near its top; a float32 subnormal
           float("inf"), float("-inf"), float("nan")]
g = torch.Generator().manual_seed(0)
source_f32 = torch.cat([torch.tensor(special, dtype=torch.float32),
                        torch.randn(64, generator=g) * 100, torch.randn(64, generator=g) * 1e-4])
source_f64 = torch.tensor([1 + 2**-11 + 2**-40, 1 + 2**-8 + 2**-40, -(1 + 2**-11 + 2**-40),
                           0.1, 65519.99999999, 1e-300, 2.0**-24 * 1.5, float("nan")], dtype=torch.float64)
tensors = {
    "source_f32": source_f32,
    "as_f16": source_f32.half(),
    "as_bf16": source_f32.bfloat16(),
    "source_f64": source_f64,
    "f64_as_f16": source_f64.half(),
    "f64_as_bf16": source_f64.bfloat16(),
    "i8": torch.tensor([-128, -1, 0, 127], dtype=torch.int8),
    "i16": torch.tensor([-32768, -1, 0, 32767], dtype=torch.int16),
    "i32": torch.tensor([-2**31, -1, 0, 2**31 - 1], dtype=torch.int32),
    "u8": torch.tensor([0, 1, 255], dtype=torch.uint8),
    "u16": torch.tensor([0, 1, 65535], dtype=torch.uint16),
    "u32": torch.tensor([0, 1, 2**32 - 1], dtype=torch.uint32),
    "u64": torch.tensor([0, 1, 2**63 - 1], dtype=torch.uint64),
    "bool": torch.tensor([[True, False], [False, True]]),
}
save_file(tensors, OUT, metadata={"source": "scripts/make_dtype_fixtures.py", "torch": torch.__version__})
print("wrote", OUT)
for k in ("as_f16", "f64_as_f16", "f64_as_bf16"):
    print(k, [hex(v) for v in tensors[k].view(torch.int16).tolist()[:3]])

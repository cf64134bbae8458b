"""Loads a safetensors file written by Backprop with Python's `safetensors` and prints it as JSON
(names, dtypes, shapes, values, metadata), for the round-trip tests. Values that are not finite
are written as the strings "inf", "-inf" and "nan" (JSON has no such numbers).
Usage: python scripts/check_safetensors_from_swift.py FILE.safetensors
"""
import json, math, sys
from safetensors import safe_open


def number(v):
    return v if not isinstance(v, float) or math.isfinite(v) else str(v)


out = {"tensors": {}, "metadata": None}
with safe_open(sys.argv[1], framework="pt") as f:
    out["metadata"] = f.metadata()
    for k in f.keys():
        t = f.get_tensor(k)
        out["tensors"][k] = {"dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape),
                             "values": [number(v) for v in t.flatten().tolist()]}
print(json.dumps(out))

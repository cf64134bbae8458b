"""Loads a safetensors file written by Backprop with Python's `safetensors` and prints it as JSON
(names, dtypes, shapes, values, metadata), for the round-trip test.
Usage: python scripts/check_safetensors_from_swift.py FILE.safetensors
"""
import json, sys
from safetensors import safe_open

out = {"tensors": {}, "metadata": None}
with safe_open(sys.argv[1], framework="pt") as f:
    out["metadata"] = f.metadata()
    for k in f.keys():
        t = f.get_tensor(k)
        out["tensors"][k] = {"dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape),
                             "values": t.flatten().tolist()}
print(json.dumps(out))

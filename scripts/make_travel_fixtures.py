"""Fixtures for the round trips of issue 16 (TravelTests): models trained by Backprop, loaded strictly
in PyTorch, saved from PyTorch in half precision, and PyTorch's predictions with each.

Writes Tests/BackpropTests/Fixtures/travel/:
    iris.safetensors (+ .optimizer)      backprop train on data/iris.csv (16 hidden, standardized)
    diabetes.safetensors (+ .optimizer)  backprop train --task regression on data/diabetes.csv
    iris_f16.safetensors, iris_bf16.safetensors, diabetes_f16.safetensors
                                         saved by PyTorch: the strictly loaded module's state_dict in
                                         float16 / bfloat16, with the model file's metadata kept
    pytorch.json                         per file: the keys PyTorch loaded and its predictions for
                                         every row of the data set (in float32, from the file's
                                         weights), and for iris.safetensors and diabetes.safetensors
                                         the parameters after one full-batch step of the optimizer
                                         file loaded into torch.optim (PyTorch's state_dict layout)
Run from the repository, with a built backprop:
    swift build && /tmp/tv/bin/python scripts/make_travel_fixtures.py [--backprop .build/debug/backprop]
Needs torch and safetensors.
"""
import argparse
import json
import os
import subprocess

import torch
from safetensors.torch import save_file

import check_travel_in_pytorch as pt

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join("Tests", "BackpropTests", "Fixtures", "travel")

RUNS = {
    "iris": ["--data", "data/iris.csv", "--hidden", "16", "--standardize", "--epochs", "40", "--lr", "0.01", "--seed", "3"],
    "diabetes": ["--data", "data/diabetes.csv", "--task", "regression", "--standardize", "--hidden", "16",
                 "--epochs", "40", "--lr", "0.003", "--seed", "3"],
}
HALF = {"iris_f16": ("iris", torch.float16), "iris_bf16": ("iris", torch.bfloat16), "diabetes_f16": ("diabetes", torch.float16)}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--backprop", default=os.path.join(".build", "debug", "backprop"))
    opts = p.parse_args()
    os.chdir(ROOT)
    os.makedirs(OUT, exist_ok=True)
    result = {"torch": torch.__version__, "files": {}}
    data = {}
    for name, args in RUNS.items():
        path = os.path.join(OUT, name + ".safetensors")
        subprocess.run([opts.backprop, "train", *args, "--save", path], check=True, stdout=subprocess.DEVNULL)
        model, meta = pt.load_strict(path)
        x, y = pt.read_rows(args[1], meta)
        data[name] = (x, y)
        entry = {"data": args[1], "keys": list(model.state_dict().keys()), "predictions": pt.predict(model, meta, x)}
        entry["after_step"] = {k: v.flatten().tolist() for k, v in pt.optimizer_step(model, meta, path, x, y).items()}
        result["files"][name + ".safetensors"] = entry
        print("trained", path, "and loaded it strictly in PyTorch")
    for name, (source, dtype) in HALF.items():
        src = os.path.join(OUT, source + ".safetensors")
        model, meta = pt.load_strict(src)
        path = os.path.join(OUT, name + ".safetensors")
        save_file({k: v.to(dtype).contiguous() for k, v in model.state_dict().items()}, path, metadata=meta)
        half, _ = pt.load_strict(path)  # a float32 module: the half-precision weights, widened exactly
        x, _ = data[source]
        result["files"][name + ".safetensors"] = {"data": RUNS[source][1], "keys": list(half.state_dict().keys()),
                                                  "dtypes": pt.dtypes(path), "predictions": pt.predict(half, meta, x)}
        print("saved", path, "from PyTorch as", dtype)
    with open(os.path.join(OUT, "pytorch.json"), "w") as f:
        json.dump(result, f, default=pt.finite)
    print("wrote", os.path.join(OUT, "pytorch.json"))


if __name__ == "__main__":
    main()

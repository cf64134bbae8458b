"""Loads a model file written by `backprop train --save` in PyTorch, strictly, and predicts with it:
the check that Backprop's files travel (issue 16), run where PyTorch is installed.

    python scripts/check_travel_in_pytorch.py MODEL.safetensors DATA.csv [--optimizer-step]

Builds the torch.nn.Sequential that the file's metadata describes, loads the file with
`model.load_state_dict(safetensors.torch.load_file(path))` (strict: every key and shape must fit),
applies the standardization recorded in the metadata, and prints one JSON object: the keys loaded,
the file's dtypes, and the predictions for the CSV's rows (classes and probabilities, or values in
the target's units). With --optimizer-step it also loads NAME.optimizer.safetensors into the
torch.optim optimizer it names (state under PyTorch's names, param_groups from the metadata), takes
one full-batch step on the standardized rows, and adds the parameters after it.

The functions are also used by scripts/make_travel_fixtures.py. Needs torch and safetensors.
"""
import csv
import json
import math
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file

ACTIVATIONS = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid, "gelu": torch.nn.GELU}


def metadata(path):
    with safe_open(path, framework="pt") as f:
        return f.metadata() or {}


def dtypes(path):
    with safe_open(path, framework="pt") as f:
        return sorted({str(f.get_slice(k).get_dtype()) for k in f.keys()})


def build(meta):
    """The torch.nn.Sequential of the model card in `meta` (float32)."""
    hidden = [] if meta["hidden"] == "none" else [int(h) for h in meta["hidden"].split(",")]
    layers, width = [], int(meta["inputs"])
    for h in hidden:
        layers += [torch.nn.Linear(width, h), ACTIVATIONS[meta["activation"]]()]
        width = h
    layers.append(torch.nn.Linear(width, int(meta["outputs"])))
    return torch.nn.Sequential(*layers)


def load_strict(path):
    """The module the file describes, with the file loaded by load_state_dict(load_file(path)) (strict)."""
    meta = metadata(path)
    model = build(meta)
    model.load_state_dict(load_file(path))  # strict=True is the default: unexpected or missing keys raise
    model.eval()
    return model, meta


def read_rows(path, meta):
    """The CSV's feature columns (by the model's feature names) as float32, and its label column's text."""
    rows = list(csv.reader(open(path, newline="")))
    header, body = rows[0], [r for r in rows[1:] if r]
    names = json.loads(meta["feature_names"])
    x = torch.tensor([[float(r[header.index(n)]) for n in names] for r in body], dtype=torch.float32)
    label = meta.get("label_name")
    y = [r[header.index(label)] for r in body] if label in header else None
    return x, y


def standardize(x, meta):
    if "input_mean" not in meta:
        return x
    mean = torch.tensor(json.loads(meta["input_mean"]), dtype=torch.float32)
    std = torch.tensor(json.loads(meta["input_std"]), dtype=torch.float32)
    return (x - mean) / std


def predict(model, meta, x):
    """Predictions for raw features x: {"classes", "probabilities"} or {"values"} in the target's units."""
    with torch.no_grad():
        out = model(standardize(x, meta))
    if meta["task"] == "classification":
        names = json.loads(meta["class_names"])
        return {"classes": [names[i] for i in out.argmax(1).tolist()],
                "probabilities": torch.softmax(out, 1).double().tolist()}
    y = out.reshape(-1)
    if "target_mean" in meta:
        y = y * torch.tensor(json.loads(meta["target_std"]), dtype=torch.float32) \
            + torch.tensor(json.loads(meta["target_mean"]), dtype=torch.float32)
    return {"values": y.double().tolist()}


def load_optimizer(model, model_path):
    """The torch.optim optimizer of NAME.optimizer.safetensors with its state loaded by load_state_dict."""
    path = model_path[: -len(".safetensors")] + ".optimizer.safetensors"
    meta = metadata(path)
    groups = json.loads(meta["param_groups"])
    params = list(model.parameters())
    make = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}[meta["optimizer"]]
    opt = make(params, lr=groups[0]["lr"])
    state = {}
    for name, t in load_file(path).items():
        _, index, key = name.split(".", 2)
        state.setdefault(int(index), {})[key] = t
    opt.load_state_dict({"state": state, "param_groups": groups})
    return opt, meta


def optimizer_step(model, meta, model_path, x, y):
    """One full-batch step of the checkpoint's optimizer on the standardized rows x (raw) and labels y."""
    opt, run = load_optimizer(model, model_path)
    model.train()
    opt.zero_grad()
    out = model(standardize(x, meta))
    if meta["task"] == "classification":
        index = {n: i for i, n in enumerate(json.loads(meta["class_names"]))}
        loss = torch.nn.functional.cross_entropy(out, torch.tensor([index[v] for v in y]))
    else:
        t = torch.tensor([float(v) for v in y], dtype=torch.float32)
        if "target_mean" in meta:
            t = (t - torch.tensor(json.loads(meta["target_mean"]))) / torch.tensor(json.loads(meta["target_std"]))
        name = run.get("loss", "mse")
        if name == "huber":
            loss = torch.nn.functional.huber_loss(out.reshape(-1), t, delta=float(run.get("huber_delta", "1")))
        else:
            loss = {"mse": torch.nn.functional.mse_loss, "l1": torch.nn.functional.l1_loss}[name](out.reshape(-1), t)
    loss.backward()
    opt.step()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def finite(v):
    return v if not isinstance(v, float) or math.isfinite(v) else str(v)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    model_path, data_path = args
    model, meta = load_strict(model_path)
    x, y = read_rows(data_path, meta)
    out = {"strict_load": True, "keys": list(model.state_dict().keys()), "dtypes": dtypes(model_path),
           "module": str(meta.get("pytorch_module")), "predictions": predict(model, meta, x)}
    if "--optimizer-step" in sys.argv:
        after = optimizer_step(model, meta, model_path, x, y)
        out["after_step"] = {k: v.flatten().tolist() for k, v in after.items()}
    print(json.dumps(out, default=finite))


if __name__ == "__main__":
    main()

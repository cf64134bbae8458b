"""PyTorch reference for `backprop train --task regression` (issue 16): the same recipe on the diabetes
data, from the same initial weights, with the same split, standardization and mini-batch order.

Backprop's seeded draws are re-implemented here (SplitMix64 seeding xoshiro256**, Fisher-Yates), so the
split (--seed 0, --test-split 0.2) and each epoch's shuffle are Backprop's own. The recipe:
Sequential(Linear(10, 32), ReLU, Linear(32, 1)), features and target standardized with the training
rows' mean and population std (in float64, stored as float32), Adam lr 1e-3, batch 32, 100 epochs,
for each loss: MSE, L1 and Huber (delta 1). Writes to Tests/BackpropTests/Fixtures/:
    diabetes_init.safetensors   the initial parameters (torch.manual_seed(0), nn.Linear's init)
    diabetes_reference.json     the recipe and, per loss, PyTorch's final train and test metrics in
                                the target's units (MSE, RMSE, MAE, R^2)
The Swift test runs `backprop train --init diabetes_init.safetensors ...` with the same options and
requires the final test MSE within 1% of PyTorch's.
Run: /tmp/tv/bin/python scripts/make_regression_reference.py   (needs torch and safetensors)
"""
import csv
import json
import math
import os

import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "Tests", "BackpropTests", "Fixtures")
M64 = (1 << 64) - 1
RECIPE = {"data": "data/diabetes.csv", "hidden": 32, "lr": 1e-3, "batch_size": 32, "epochs": 100, "seed": 0,
          "test_split": 0.2, "huber_delta": 1.0}


class RandomGenerator:
    """Backprop's RandomGenerator: xoshiro256** seeded by SplitMix64."""

    def __init__(self, seed):
        x = seed & M64
        s = []
        for _ in range(4):
            x = (x + 0x9E3779B97F4A7C15) & M64
            z = x
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
            s.append(z ^ (z >> 31))
        self.s = s

    def next(self):
        s = self.s
        r = (s[1] * 5) & M64
        result = (((r << 7) | (r >> 57)) & M64) * 9 & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]
        s[2] ^= t
        s[3] = ((s[3] << 45) | (s[3] >> 19)) & M64
        return result

    def permutation(self, n):
        p = list(range(n))
        for i in range(n - 1, 0, -1):
            j = self.next() % (i + 1)
            p[i], p[j] = p[j], p[i]
        return p


def standardizer(columns):
    """Backprop's Standardizer: mean and population std in float64 (std 1 for a constant column), as float32."""
    n = len(columns)
    f = len(columns[0])
    mean = [sum(r[j] for r in columns) / n for j in range(f)]
    std = []
    for j in range(f):
        s = math.sqrt(sum((r[j] - mean[j]) ** 2 for r in columns) / n)
        std.append(s if s > 1e-12 * max(1, abs(mean[j])) else 1.0)
    return torch.tensor(mean, dtype=torch.float32), torch.tensor(std, dtype=torch.float32)


def metrics(pred, target):
    p, y = pred.double().tolist(), target.double().tolist()
    n = len(y)
    mean = sum(y) / n
    sse = sum((a - b) ** 2 for a, b in zip(p, y))
    sst = sum((b - mean) ** 2 for b in y)
    return {"mse": sse / n, "rmse": math.sqrt(sse / n), "mae": sum(abs(a - b) for a, b in zip(p, y)) / n, "r2": 1 - sse / sst}


def main():
    rows = list(csv.reader(open(os.path.join(HERE, "..", RECIPE["data"]))))[1:]
    raw = [[float(v) for v in r] for r in rows]
    g = RandomGenerator(RECIPE["seed"])
    order = g.permutation(len(raw))
    n_test = math.floor(len(raw) * RECIPE["test_split"] + 0.5)
    test_rows, train_rows = [raw[i] for i in order[:n_test]], [raw[i] for i in order[n_test:]]
    # The data as Backprop holds it: float32 features and targets.
    def split(rs):
        return (torch.tensor([r[:-1] for r in rs], dtype=torch.float32), torch.tensor([r[-1] for r in rs], dtype=torch.float32))
    xtr, ytr = split(train_rows)
    xte, yte = split(test_rows)
    # Statistics from the float32 values, as Backprop fits them.
    fm, fs = standardizer(xtr.double().tolist())
    tm, ts = standardizer([[v] for v in ytr.double().tolist()])
    xtr_s, xte_s = (xtr - fm) / fs, (xte - fm) / fs
    ytr_s = (ytr - tm) / ts

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(10, RECIPE["hidden"]), torch.nn.ReLU(), torch.nn.Linear(RECIPE["hidden"], 1))
    init = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    save_file(init, os.path.join(FIX, "diabetes_init.safetensors"), metadata={"source": "scripts/make_regression_reference.py"})

    losses = {"mse": torch.nn.functional.mse_loss, "l1": torch.nn.functional.l1_loss,
              "huber": lambda a, b: torch.nn.functional.huber_loss(a, b, delta=RECIPE["huber_delta"])}
    out = {"recipe": RECIPE, "torch": torch.__version__, "train_rows": len(train_rows), "test_rows": len(test_rows), "losses": {}}
    for name, loss_fn in losses.items():
        model.load_state_dict(init)
        opt = torch.optim.Adam(model.parameters(), lr=RECIPE["lr"])
        b = RECIPE["batch_size"]
        for epoch in range(1, RECIPE["epochs"] + 1):
            gen = RandomGenerator((RECIPE["seed"] * 0x9E3779B9 + epoch) & M64)
            perm = gen.permutation(len(train_rows))
            for start in range(0, len(train_rows), b):
                idx = torch.tensor(perm[start:start + b])
                opt.zero_grad()
                loss = loss_fn(model(xtr_s[idx]).reshape(-1), ytr_s[idx])
                loss.backward()
                opt.step()
        with torch.no_grad():
            ptr = model(xtr_s).reshape(-1) * ts + tm
            pte = model(xte_s).reshape(-1) * ts + tm
        out["losses"][name] = {"train": metrics(ptr, ytr), "test": metrics(pte, yte)}
        print(name, "test", out["losses"][name]["test"])
    with open(os.path.join(FIX, "diabetes_reference.json"), "w") as f:
        json.dump(out, f, indent=1)
    print("wrote", os.path.join(FIX, "diabetes_reference.json"))


if __name__ == "__main__":
    main()

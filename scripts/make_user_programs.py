#!/usr/bin/env python3
"""PyTorch's numbers for the three user programs of Tests/UserProgramTests (issue 12).

Each program is written as a PyTorch user writes it; its initial state_dict and what it ends with
(the losses, the final parameters, predictions) go to Tests/UserProgramTests/Fixtures/user_programs.json,
so that the Swift versions, started from the same weights, can be held to the same numbers:

    python3 scripts/make_user_programs.py      # needs PyTorch

1. XOR: Linear(2, 8), Tanh, Linear(8, 1), BCEWithLogitsLoss, SGD(lr=0.5, momentum=0.9), 300 full-batch steps.
2. Linear regression: Linear(1, 1) on y = 3x + 2 + noise (32 points), MSELoss, SGD(lr=0.1), 100 steps.
3. A residual Module on iris (standardized features): fc_in Linear(4, 16), a block of two
   Linear(16, 16) added back, head Linear(16, 3); CrossEntropyLoss, Adam(lr=0.01), 60 full-batch steps;
   the accuracy, and the logits of the first five rows (to check a saved-and-reloaded model).
"""
import csv
import json
import os

import torch
from torch import nn


def enc(t):
    t = t.detach()
    return {"shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", ""), "data": t.reshape(-1).tolist()}


def state(m):
    return {k: enc(v) for k, v in m.state_dict().items()}


def xor():
    torch.manual_seed(0)
    x = torch.tensor([[0.0, 0], [0, 1], [1, 0], [1, 1]])
    y = torch.tensor([[0.0], [1], [1], [0]])
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
    init = state(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    loss_fn = nn.BCEWithLogitsLoss()
    losses = []
    for _ in range(300):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return {"init": init, "losses": losses, "final": state(model),
            "probabilities": enc(torch.sigmoid(model(x)))}


def regression():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(32, 1, generator=g) * 2 - 1
    y = 3 * x + 2 + 0.1 * torch.randn(32, 1, generator=g)
    torch.manual_seed(1)
    model = nn.Linear(1, 1)
    init = state(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    losses = []
    for _ in range(100):
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return {"x": enc(x), "y": enc(y), "init": init, "losses": losses, "final": state(model)}


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc_in = nn.Linear(4, 16)
        self.block = nn.Sequential(nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 16))
        self.head = nn.Linear(16, 3)

    def forward(self, x):
        h = torch.relu(self.fc_in(x))
        h = h + self.block(h)
        return self.head(torch.relu(h))


def iris():
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "Tests", "UserProgramTests", "Fixtures", "iris.csv")) as f:
        rows = list(csv.reader(f))[1:]
    x = torch.tensor([[float(v) for v in r[:4]] for r in rows])
    y = torch.tensor([int(r[4]) for r in rows])
    x = (x - x.mean(0)) / x.std(0, unbiased=False)
    torch.manual_seed(2)
    model = Residual()
    init = state(model)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        logits = model(x)
    acc = (logits.argmax(1) == y).float().mean().item()
    return {"init": init, "losses": losses, "final": state(model), "accuracy": acc, "logits5": enc(logits[:5])}


def main():
    torch.set_num_threads(1)
    out = {"generator": f"scripts/make_user_programs.py, PyTorch {torch.__version__}",
           "xor": xor(), "regression": regression(), "iris": iris()}
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "..", "Tests", "UserProgramTests", "Fixtures", "user_programs.json")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(out, f)
    os.replace(tmp, path)
    print(f"wrote {path}: xor loss {out['xor']['losses'][-1]:.6f}, regression loss {out['regression']['losses'][-1]:.6f}, "
          f"iris loss {out['iris']['losses'][-1]:.6f} accuracy {out['iris']['accuracy']:.4f}")


if __name__ == "__main__":
    main()

"""Reference values for Backprop's optimizers and learning-rate schedules, from PyTorch.

Writes Tests/BackpropTests/Fixtures/optim.json. Run with a Python that has torch:
    /work/venv/bin/python scripts/make_optim_fixture.py
Each optimizer case: a parameter, a fixed sequence of gradients, and the parameter after each step.
"""
import json, math, os
import torch

torch.manual_seed(1234)
OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "BackpropTests", "Fixtures", "optim.json")

def run(kind, kwargs, dtype, steps=6, n=5):
    g = torch.Generator().manual_seed(7)
    p0 = torch.randn(n, generator=g, dtype=torch.float64).to(dtype)
    grads = [torch.randn(n, generator=g, dtype=torch.float64).to(dtype) for _ in range(steps)]
    p = p0.clone().requires_grad_(True)
    opt = getattr(torch.optim, kind)([p], **kwargs)
    after = []
    for gk in grads:
        p.grad = gk.clone()
        opt.step()
        after.append(p.detach().tolist())
    return {"optimizer": kind, "options": kwargs, "dtype": str(dtype).replace("torch.", ""),
            "initial": p0.tolist(), "grads": [x.tolist() for x in grads], "after": after}

cases = []
for dtype in (torch.float64, torch.float32):
    cases += [
        run("SGD", {"lr": 0.1}, dtype),
        run("SGD", {"lr": 0.1, "momentum": 0.9}, dtype),
        run("SGD", {"lr": 0.05, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.01}, dtype),
        run("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.05}, dtype),
        run("SGD", {"lr": 0.1, "momentum": 0.5, "maximize": True}, dtype),
        run("Adam", {"lr": 0.01}, dtype),
        run("Adam", {"lr": 0.02, "betas": [0.3, 0.8], "eps": 1e-6, "weight_decay": 0.1}, dtype),
        run("Adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.01}, dtype),
        run("AdamW", {"lr": 0.01}, dtype),
        run("AdamW", {"lr": 0.05, "weight_decay": 0.1, "amsgrad": True}, dtype),
    ]

def lrs(make, epochs=12, base=0.1):
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=base)
    sched = make(opt)
    out = [opt.param_groups[0]["lr"]]
    for _ in range(epochs):
        opt.step()
        sched.step()
        out.append(opt.param_groups[0]["lr"])
    return out

S = torch.optim.lr_scheduler
schedules = [
    {"schedule": "StepLR", "options": {"step_size": 3, "gamma": 0.5}, "base": 0.1,
     "lrs": lrs(lambda o: S.StepLR(o, step_size=3, gamma=0.5))},
    {"schedule": "CosineAnnealingLR", "options": {"T_max": 10, "eta_min": 0.001}, "base": 0.1,
     "lrs": lrs(lambda o: S.CosineAnnealingLR(o, T_max=10, eta_min=0.001))},
    {"schedule": "LinearLR", "options": {"start_factor": 0.25, "end_factor": 1.0, "total_iters": 4}, "base": 0.1,
     "lrs": lrs(lambda o: S.LinearLR(o, start_factor=0.25, total_iters=4))},
    {"schedule": "WarmupCosine", "options": {"start_factor": 0.1, "warmup": 3, "T_max": 9}, "base": 0.1,
     "lrs": lrs(lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.1, total_iters=3),
                                              S.CosineAnnealingLR(o, T_max=9)], milestones=[3]))},
]

with open(OUT, "w") as f:
    json.dump({"torch": torch.__version__, "optimizers": cases, "schedules": schedules}, f, indent=1)
print("wrote", OUT, len(cases), "optimizer cases,", len(schedules), "schedules")

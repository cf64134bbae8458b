#!/usr/bin/env python3
"""Second-order worked examples from PyTorch, for Tests/BackpropTests/SecondOrderTests.swift:

1. PyTorch's own Hessian-vector test (test_autograd.py, test_hessian_vector): x, y of shape 2x2,
   z = x*x + y*x + y*y, z.backward(ones, create_graph=True), then (2*x.grad + y.grad).backward(ones).
2. A WGAN-GP gradient penalty on a small MLP critic (Linear(3, 4), Tanh, Linear(4, 1)):
   x_hat = eps * real + (1 - eps) * fake, g = autograd.grad(D(x_hat).sum(), x_hat, create_graph=True),
   penalty = 10 * ((||g||_2 per row - 1)^2).mean(), penalty.backward(); the penalty and the critic's
   parameter gradients.

    python3 scripts/make_second_order_reference.py --out Tests/BackpropTests/Fixtures/second_order.json

Needs PyTorch. Written to a temporary name, then renamed.
"""
import argparse
import json
import os
import tempfile

import torch


def enc(t):
    if t is None:
        return None
    t = t.detach()
    return {"shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", ""), "data": t.reshape(-1).tolist()}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="second_order.json")
    p.add_argument("--seed", type=int, default=0)
    opts = p.parse_args()
    torch.manual_seed(opts.seed)
    torch.set_num_threads(1)
    cases = []

    # 1. The Hessian-vector test.
    x = torch.randn(2, 2, dtype=torch.float64, requires_grad=True)
    y = torch.randn(2, 2, dtype=torch.float64, requires_grad=True)
    x0, y0 = x.detach().clone(), y.detach().clone()
    z = x * x + y * x + y * y
    z.backward(torch.ones(2, 2, dtype=torch.float64), create_graph=True)
    x_grad, y_grad = x.grad.detach().clone(), y.grad.detach().clone()
    grad_sum = 2 * x.grad + y.grad
    grad_sum.backward(torch.ones(2, 2, dtype=torch.float64))
    cases.append({"name": "hessian_vector", "x": enc(x0), "y": enc(y0), "x_grad_first": enc(x_grad),
                  "y_grad_first": enc(y_grad), "x_grad": enc(x.grad), "y_grad": enc(y.grad)})

    # 2. WGAN-GP.
    for dtype in (torch.float32, torch.float64):
        critic = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)).to(dtype)
        real = torch.randn(5, 3, dtype=dtype)
        fake = torch.randn(5, 3, dtype=dtype)
        eps = torch.rand(5, 1, dtype=dtype)
        x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
        out = critic(x_hat)
        (g,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
        penalty = 10 * ((g.norm(2, dim=1) - 1) ** 2).mean()
        penalty.backward()
        params = {n: enc(p) for n, p in critic.named_parameters()}
        grads = {n: enc(p.grad) for n, p in critic.named_parameters()}
        cases.append({"name": "wgan_gp_" + str(dtype).replace("torch.", ""), "params": params, "x_hat": enc(x_hat),
                      "input_grad": enc(g), "penalty": enc(penalty), "param_grads": grads})

    doc = {"generator": f"PyTorch {torch.__version__} (scripts/make_second_order_reference.py)", "seed": opts.seed,
           "cases": cases}
    directory = os.path.dirname(os.path.abspath(opts.out))
    fd, tmp = tempfile.mkstemp(prefix=".second-order-", suffix=".json", dir=directory)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f)
            f.write("\n")
        os.replace(tmp, opts.out)
    except BaseException:
        os.unlink(tmp)
        raise
    print(f"wrote {len(cases)} cases to {opts.out}")


if __name__ == "__main__":
    main()

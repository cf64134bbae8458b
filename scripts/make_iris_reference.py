"""PyTorch reference for the iris equivalence test: the same MLP, the same initial parameters,
full-batch SGD (momentum 0.9) and Adam for 200 steps on raw iris features.

Writes to Tests/BackpropTests/Fixtures/:
    iris_init.safetensors          initial parameters of Sequential(Linear(4,16), ReLU, Linear(16,3))
    iris_sgd_final.safetensors     parameters after 200 SGD steps (lr 0.05, momentum 0.9)
    iris_adam_final.safetensors    parameters after 200 Adam steps (lr 0.01)
Run: /work/venv/bin/python scripts/make_iris_reference.py
"""
import csv, os
import torch
from safetensors.torch import save_file, load_file

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "Tests", "BackpropTests", "Fixtures")
rows = list(csv.reader(open(os.path.join(HERE, "..", "data", "iris.csv"))))[1:]
x = torch.tensor([[float(v) for v in r[:-1]] for r in rows], dtype=torch.float32)
y = torch.tensor([int(r[-1]) for r in rows], dtype=torch.int64)

torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
init = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
save_file(init, os.path.join(FIX, "iris_init.safetensors"), metadata={"source": "scripts/make_iris_reference.py"})

def train(make_opt, name):
    model.load_state_dict(init)
    opt = make_opt(model.parameters())
    for _ in range(200):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    with torch.no_grad():
        final_loss = torch.nn.functional.cross_entropy(model(x), y).item()
        acc = (model(x).argmax(1) == y).float().mean().item()
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    save_file(state, os.path.join(FIX, f"iris_{name}_final.safetensors"),
              metadata={"final_loss": repr(final_loss), "train_accuracy": repr(acc), "torch": torch.__version__})
    print(name, "final loss", final_loss, "accuracy", acc)

train(lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9), "sgd")
train(lambda p: torch.optim.Adam(p, lr=0.01), "adam")

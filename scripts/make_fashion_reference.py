#!/usr/bin/env python3
"""The FashionCNN parity fixture (issue 13): PyTorch's FashionCNN (../shared/MODELS.md) trained from
a seeded initial state for 16 steps on the first 512 training images of Fashion-MNIST (batch 64, not
shuffled, train mode), then evaluated (eval mode) on the first 1000 test images.

Writes into --out (default Tests/BackpropTests/Fixtures/fashion):
  train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz   the first 512 training items (IDX, gzip)
  t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz     the first 1000 test items
  <run>_init.safetensors, <run>_final.safetensors          the state_dict before and after training
  reference.json                                           per run: optimizer, per-step losses, eval loss/accuracy

Two runs: adam (seed 0, Adam lr 1e-3) and sgd (seed 1, SGD lr 0.01 momentum 0.9).
Needs PyTorch, safetensors and numpy; Fashion-MNIST from `apt-get install dataset-fashion-mnist`.
"""
import argparse, gzip, json, os, struct, tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file


def model():
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def write_idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + struct.pack(">" + "I" * array.ndim, *array.shape)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path))
    with os.fdopen(fd, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
        f.write(header + array.astype(np.uint8).tobytes())
    os.replace(tmp, path)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--out", default="Tests/BackpropTests/Fixtures/fashion")
    p.add_argument("--train", type=int, default=512)
    p.add_argument("--test", type=int, default=1000)
    p.add_argument("--steps", type=int, default=16)
    opts = p.parse_args()
    torch.set_num_threads(1)
    os.makedirs(opts.out, exist_ok=True)

    xs = read_idx(os.path.join(opts.data, "train-images-idx3-ubyte.gz"))[:opts.train]
    ys = read_idx(os.path.join(opts.data, "train-labels-idx1-ubyte.gz"))[:opts.train]
    xt = read_idx(os.path.join(opts.data, "t10k-images-idx3-ubyte.gz"))[:opts.test]
    yt = read_idx(os.path.join(opts.data, "t10k-labels-idx1-ubyte.gz"))[:opts.test]
    write_idx(os.path.join(opts.out, "train-images-idx3-ubyte.gz"), xs)
    write_idx(os.path.join(opts.out, "train-labels-idx1-ubyte.gz"), ys)
    write_idx(os.path.join(opts.out, "t10k-images-idx3-ubyte.gz"), xt)
    write_idx(os.path.join(opts.out, "t10k-labels-idx1-ubyte.gz"), yt)

    x = torch.tensor(xs, dtype=torch.float32).unsqueeze(1) / 255
    y = torch.tensor(ys, dtype=torch.int64)
    x_test = torch.tensor(xt, dtype=torch.float32).unsqueeze(1) / 255
    y_test = torch.tensor(yt, dtype=torch.int64)

    runs = {}
    for name, seed, make_opt, desc in [
        ("adam", 0, lambda ps: torch.optim.Adam(ps, lr=1e-3), {"optimizer": "adam", "lr": 1e-3}),
        ("sgd", 1, lambda ps: torch.optim.SGD(ps, lr=0.01, momentum=0.9), {"optimizer": "sgd", "lr": 0.01, "momentum": 0.9}),
    ]:
        torch.manual_seed(seed)
        m = model()
        save_file({k: v.contiguous() for k, v in m.state_dict().items()}, os.path.join(opts.out, f"{name}_init.safetensors"))
        opt = make_opt(m.parameters())
        m.train()
        losses, row = [], 0
        for step in range(opts.steps):
            # Not shuffled: the rows in file order, starting again at row 0 after the last batch.
            hi = min(row + 64, opts.train)
            loss = F.cross_entropy(m(x[row:hi]), y[row:hi])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            row = 0 if hi >= opts.train else hi
        save_file({k: v.contiguous() for k, v in m.state_dict().items()}, os.path.join(opts.out, f"{name}_final.safetensors"))
        m.eval()
        with torch.no_grad():
            logits = m(x_test)
            eval_loss = F.cross_entropy(logits, y_test).item()
            accuracy = (logits.argmax(1) == y_test).float().mean().item()
        runs[name] = dict(desc, seed=seed, steps=opts.steps, batch_size=64, losses=losses, eval_loss=eval_loss, eval_accuracy=accuracy)
        print(name, "final loss", losses[-1], "eval loss", eval_loss, "accuracy", accuracy)
    doc = {"generator": f"PyTorch {torch.__version__} (scripts/make_fashion_reference.py)", "train": opts.train, "test": opts.test,
           "runs": runs}
    with open(os.path.join(opts.out, "reference.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""PyTorch's run of char-gpt's recipe (../shared/MODELS.md's CharGPT), to set beside
`swift run -c release char-gpt`: the same model, batches (random offsets from torch.manual_seed,
or not shuffled), AdamW with decay groups and clipping, validation loss over K not-shuffled
validation batches; prints one JSON object like `char-gpt --json` (without the sample).

    /tmp/tv/bin/python scripts/char_gpt_pytorch.py --data ../shared/data/tinyshakespeare.txt --steps 2000 --threads 2
"""
import argparse, json, os, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402
from make_gpt_reference import CharGPT  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--block-size", type=int, default=64)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--embd", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--grad-clip", type=float, default=1.0)
    ap.add_argument("--eval-batches", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-shuffle", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    text = open(a.data, encoding="utf-8").read()
    chars = sorted(set(text))
    data = torch.tensor([chars.index(c) for c in text], dtype=torch.long) if len(chars) < 300 else None
    if data is None:
        index = {c: i for i, c in enumerate(chars)}
        data = torch.tensor([index[c] for c in text], dtype=torch.long)
    n = int(0.9 * len(data))
    train, val = data[:n], data[n:]
    B, T = a.batch_size, a.block_size

    def batch(split, i, random):
        if random:
            offs = torch.randint(len(split) - T, (B,)).tolist()
        else:
            offs = [((i * B + j) * T) % (len(split) - T) for j in range(B)]
        return (torch.stack([split[o:o + T] for o in offs]), torch.stack([split[o + 1:o + T + 1] for o in offs]))

    torch.manual_seed(a.seed)
    net = CharGPT(len(chars), T, a.layers, a.heads, a.embd)
    ps = list(net.parameters())
    opt = torch.optim.AdamW([{"params": [p for p in ps if p.dim() >= 2], "weight_decay": a.weight_decay},
                             {"params": [p for p in ps if p.dim() < 2], "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.99), eps=1e-8)
    losses = []
    t0 = time.perf_counter()
    for i in range(a.steps):
        x, y = batch(train, i, not a.no_shuffle)
        opt.zero_grad()
        loss = net(x, y)
        loss.backward()
        if a.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(net.parameters(), a.grad_clip)
        opt.step()
        losses.append(loss.item())
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        val_loss = sum(net(*batch(val, k, False)).item() for k in range(a.eval_batches)) / max(a.eval_batches, 1)
    print(json.dumps({"framework": f"PyTorch {torch.__version__}", "threads": a.threads, "steps": a.steps,
                      "final_loss": losses[-1], "val_loss": val_loss, "seconds": seconds,
                      "tokens_per_s": a.steps * B * T / seconds}))


if __name__ == "__main__":
    main()

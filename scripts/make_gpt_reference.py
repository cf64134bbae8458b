#!/usr/bin/env python3
"""PyTorch's reference for CharGPT training (Tests/BackpropTests/Fixtures/gpt/).

For each configuration below: a CharGPT (nanoGPT's GPT, ../shared/MODELS.md) made with
torch.manual_seed(seed), its initial state written as safetensors with the tied head stored once
(under transformer.wte.weight, as safetensors.torch.save_model stores it), then `steps` AdamW steps
(nanoGPT's decay groups) with clip_grad_norm_ on not-shuffled batches of MODELS.md's rule over a
fixed text; the losses, the gradient norms before clipping and the final state are written too.

    /tmp/tv/bin/python scripts/make_gpt_reference.py --out Tests/BackpropTests/Fixtures/gpt

Needs PyTorch and safetensors (pip install torch safetensors). Float32, one thread.
"""
import argparse
import json
import math
import os
import tempfile

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

TEXT = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
    "First Citizen:\nYou are all resolved rather to die than to famish?\n\nAll:\nResolved. resolved.\n\n"
    "First Citizen:\nFirst, you know Caius Marcius is chief enemy to the people.\n"
)

CONFIGS = [
    # name, layers, heads, width, block, batch, lr, weight decay, clip, steps, seed
    dict(name="small", L=2, H=2, C=16, T=8, B=4, lr=1e-3, wd=0.1, clip=1.0, steps=10, seed=0),
    dict(name="clipped", L=1, H=4, C=32, T=16, B=3, lr=3e-3, wd=0.05, clip=0.05, steps=10, seed=1),
]


class CausalSelfAttention(nn.Module):
    def __init__(self, C, H):
        super().__init__()
        self.c_attn = nn.Linear(C, 3 * C)
        self.c_proj = nn.Linear(C, C)
        self.n_head, self.n_embd = H, C

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        q, k, v = (z.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


class MLP(nn.Module):
    def __init__(self, C):
        super().__init__()
        self.c_fc = nn.Linear(C, 4 * C)
        self.c_proj = nn.Linear(4 * C, C)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, C, H):
        super().__init__()
        self.ln_1 = nn.LayerNorm(C)
        self.attn = CausalSelfAttention(C, H)
        self.ln_2 = nn.LayerNorm(C)
        self.mlp = MLP(C)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class CharGPT(nn.Module):
    """The `model()` of ../shared/bench/pytorch/w10_gpt.py (nanoGPT's GPT, dropout 0, biases on)."""

    def __init__(self, V, T, L, H, C):
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(V, C), wpe=nn.Embedding(T, C),
            h=nn.ModuleList([Block(C, H) for _ in range(L)]), ln_f=nn.LayerNorm(C)))
        self.lm_head = nn.Linear(C, V, bias=False)
        self.transformer.wte.weight = self.lm_head.weight
        self.apply(self._init_weights)
        for pn, p in self.named_parameters():
            if pn.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * L))

    @staticmethod
    def _init_weights(m):
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)

    def forward(self, idx, targets):
        t = idx.size(1)
        x = self.transformer.wte(idx) + self.transformer.wpe(torch.arange(t))
        for block in self.transformer.h:
            x = block(x)
        logits = self.lm_head(self.transformer.ln_f(x))
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def state(net):
    """The state dict with the tied head once (under transformer.wte.weight)."""
    return {k: v.detach().clone().contiguous() for k, v in net.state_dict().items() if k != "lm_head.weight"}


def atomic_save(tensors, path):
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
    os.close(fd)
    save_file(tensors, tmp)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="Tests/BackpropTests/Fixtures/gpt")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.set_num_threads(1)
    chars = sorted(set(TEXT))
    data = torch.tensor([chars.index(ch) for ch in TEXT], dtype=torch.long)
    train = data[: int(0.9 * len(data))]
    runs = []
    for cfg in CONFIGS:
        torch.manual_seed(cfg["seed"])
        V, T, B = len(chars), cfg["T"], cfg["B"]
        net = CharGPT(V, T, cfg["L"], cfg["H"], cfg["C"])
        atomic_save(state(net), os.path.join(a.out, f"{cfg['name']}_init.safetensors"))
        ps = [p for p in net.parameters()]
        opt = torch.optim.AdamW([{"params": [p for p in ps if p.dim() >= 2], "weight_decay": cfg["wd"]},
                                 {"params": [p for p in ps if p.dim() < 2], "weight_decay": 0.0}],
                                lr=cfg["lr"], betas=(0.9, 0.99), eps=1e-8)
        losses, norms = [], []
        n = len(train)
        for i in range(cfg["steps"]):
            offs = [((i * B + j) * T) % (n - T) for j in range(B)]
            x = torch.stack([train[o:o + T] for o in offs])
            y = torch.stack([train[o + 1:o + T + 1] for o in offs])
            opt.zero_grad()
            loss = net(x, y)
            loss.backward()
            norms.append(float(torch.nn.utils.clip_grad_norm_(net.parameters(), cfg["clip"])))
            opt.step()
            losses.append(float(loss.detach()))
        atomic_save(state(net), os.path.join(a.out, f"{cfg['name']}_final.safetensors"))
        runs.append({**cfg, "V": V, "losses": losses, "grad_norms": norms})
    doc = {"generator": f"PyTorch {torch.__version__} (scripts/make_gpt_reference.py)", "text": TEXT, "runs": runs}
    path = os.path.join(a.out, "gpt_reference.json")
    fd, tmp = tempfile.mkstemp(dir=a.out, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f, indent=1)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    for r in runs:
        print(r["name"], "losses", [round(x, 4) for x in r["losses"]], "norms", [round(x, 4) for x in r["grad_norms"]])


if __name__ == "__main__":
    main()

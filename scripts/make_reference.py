#!/usr/bin/env python3
"""Make a PyTorch reference file for `backprop verify`.

Runs a few cases of every op Backprop replays through *your* PyTorch (CPU), forward and
backward, and writes them in the ops.json format of the golden reference files
(see README.md, "Checking Backprop against PyTorch"):

    python3 scripts/make_reference.py --out my_reference.json
    swift run backprop verify my_reference.json

Each case holds the op's PyTorch name, its arguments, the output, a random cotangent and the
gradient of sum(output * cotangent) with respect to every differentiable argument. Inputs are
random (seeded) and kept away from kinks and ties (|x| >= 0.2 for abs/relu, no equal pairs for
maximum/minimum/amax, ...), so that any PyTorch version gives well-defined gradients.

Options: --seed, --dtype float32|float64|both, --ops add,mm,... (default: all), --cases N per op,
--extra (only the cases beyond the shared golden set: the project's fixture, refreshed with
    python3 scripts/make_reference.py --extra --out Sources/backprop/Reference/more_ops.json).
Needs only PyTorch (and Python 3.8+). The file is written to a temporary name, then renamed.
"""
import argparse
import json
import os
import sys
import tempfile
import zlib

import torch
import torch.nn.functional as F

# Loss ops whose `weight`/`pos_weight` is a constant (no gradient recorded).
CONSTANT_ARGS = {"weight", "pos_weight"}
LOSS_OPS = {"nll_loss", "cross_entropy", "binary_cross_entropy", "binary_cross_entropy_with_logits"}


class Draw:
    """Seeded random tensors of one dtype."""

    def __init__(self, seed, name, dtype):
        self.g = torch.Generator().manual_seed((seed * 1_000_003 + zlib.crc32(name.encode())) % (2**63))
        self.dtype = dtype

    def rn(self, *shape):
        return torch.randn(tuple(shape), generator=self.g, dtype=torch.float64).to(self.dtype)

    def uniform(self, lo, hi, *shape):
        return (lo + (hi - lo) * torch.rand(tuple(shape), generator=self.g, dtype=torch.float64)).to(self.dtype)

    def away(self, *shape):
        """|x| in [0.2, 2]."""
        sign = torch.randint(0, 2, shape, generator=self.g) * 2 - 1
        return (sign * self.uniform(0.2, 2, *shape).double()).to(self.dtype)

    def away_from(self, points, *shape):
        x = self.uniform(-2, 2, *shape).double()
        for p in points:
            close = (x - p).abs() < 0.1
            x = torch.where(close, x + 0.25, x)
        return x.to(self.dtype)

    def grid(self, odd, *shape):
        """Near whole numbers (odd=False) or halves (odd=True): two such tensors never tie."""
        k = torch.randint(-3, 3, shape, generator=self.g).double() + (0.5 if odd else 0.0)
        return (k + 0.2 * (torch.rand(tuple(shape), generator=self.g, dtype=torch.float64) - 0.5)).to(self.dtype)

    def distinct(self, *shape):
        n = 1
        for s in shape:
            n *= s
        p = torch.randperm(n, generator=self.g).double()
        return (p * 0.3 - 1 + 0.1 * (torch.rand(n, generator=self.g, dtype=torch.float64) - 0.5)).reshape(shape).to(self.dtype)

    def index(self, high, *shape):
        return torch.randint(0, high, shape, generator=self.g)


def specs():
    """op -> list of (variant, fn name, builder(draw) -> (arg_names, args, kwargs), call(args, kwargs) -> output)."""
    S = {}

    def add(op, variant, fn, build, call, extra=False):
        S.setdefault(op, []).append((variant, fn, build, call, extra))

    # Elementwise
    add("add", "bcast_alpha", "torch.add", lambda d: (["input", "other"], [d.rn(2, 3), d.rn(3)], {"alpha": 2.0}),
        lambda a, k: torch.add(a[0], a[1], **k))
    add("add", "scalar", "torch.add", lambda d: (["input", "other"], [d.rn(2, 3), 1.5], {}), lambda a, k: torch.add(a[0], a[1]))
    add("sub", "bcast", "torch.sub", lambda d: (["input", "other"], [d.rn(2, 3), d.rn(2, 1)], {"alpha": 0.5}),
        lambda a, k: torch.sub(a[0], a[1], **k))
    add("mul", "bcast", "torch.mul", lambda d: (["input", "other"], [d.rn(2, 3), d.rn(3)], {}), lambda a, k: torch.mul(a[0], a[1]))
    add("mul", "0d", "torch.mul", lambda d: (["input", "other"], [d.rn(), d.rn(4)], {}), lambda a, k: torch.mul(a[0], a[1]))
    add("div", "trunc", "torch.div", lambda d: (["input", "other"], [d.rn(2, 3) * 4, d.away(3)], {"rounding_mode": "trunc"}),
        lambda a, k: torch.div(a[0], a[1], **k), extra=True)
    add("div", "floor", "torch.div", lambda d: (["input", "other"], [d.rn(2, 3) * 4, d.away(2, 3)], {"rounding_mode": "floor"}),
        lambda a, k: torch.div(a[0], a[1], **k), extra=True)
    add("div", "bcast", "torch.div", lambda d: (["input", "other"], [d.rn(2, 3), d.away(3)], {}), lambda a, k: torch.div(a[0], a[1]))
    for op, make in [("neg", lambda d: d.rn(2, 3)), ("exp", lambda d: d.rn(2, 3)), ("log", lambda d: d.uniform(0.5, 3, 2, 3)),
                     ("sqrt", lambda d: d.uniform(0.5, 3, 2, 3)), ("abs", lambda d: d.away(2, 3)), ("relu", lambda d: d.away(2, 3)),
                     ("sigmoid", lambda d: d.rn(2, 3)), ("tanh", lambda d: d.rn(2, 3))]:
        add(op, "2d", f"torch.{op}", (lambda m: lambda d: (["input"], [m(d)], {}))(make), (lambda o: lambda a, k: getattr(torch, o)(a[0]))(op))
    for approx in ["none", "tanh"]:
        add("gelu", approx, "torch.nn.functional.gelu", (lambda ap: lambda d: (["input"], [d.rn(2, 3)], {"approximate": ap}))(approx),
            lambda a, k: F.gelu(a[0], **k))
    add("pow", "scalar", "torch.pow", lambda d: (["input", "exponent"], [d.uniform(0.5, 2, 2, 3), 2.5], {}), lambda a, k: torch.pow(a[0], a[1]))
    add("pow", "tensor_bcast", "torch.pow", lambda d: (["input", "exponent"], [d.uniform(0.5, 2, 2, 3), d.rn(3)], {}),
        lambda a, k: torch.pow(a[0], a[1]))
    add("clamp", "min_max", "torch.clamp", lambda d: (["input"], [d.away_from([-0.5, 0.5], 2, 3)], {"min": -0.5, "max": 0.5}),
        lambda a, k: torch.clamp(a[0], **k))
    # Tensor bounds (broadcast), with their gradients; x on whole numbers, the bounds on halves.
    add("clamp", "tensors", "torch.clamp",
        lambda d: (lambda lo: (["input", "min", "max"], [d.grid(False, 2, 3), lo, (lo.double() + 1 + d.index(2, 3)).to(d.dtype)], {}))(d.grid(True, 3)),
        lambda a, k: torch.clamp(a[0], a[1], a[2]), extra=True)
    add("clamp", "tensor_min", "torch.clamp",
        lambda d: (["input", "min"], [d.grid(False, 3, 2), d.grid(True, 3, 1)], {}),
        lambda a, k: torch.clamp(a[0], min=a[1]), extra=True)
    add("softplus", "default", "torch.nn.functional.softplus", lambda d: (["input"], [d.rn(2, 3) * 3], {}),
        lambda a, k: F.softplus(a[0], **k), extra=True)
    add("softplus", "beta_threshold", "torch.nn.functional.softplus",
        lambda d: (["input"], [d.away_from([1.0], 3, 4) * 2], {"beta": 2.0, "threshold": 4.0}),
        lambda a, k: F.softplus(a[0], **k), extra=True)
    # Activations of the CNN and transformer models.
    add("leaky_relu", "slope", "torch.nn.functional.leaky_relu", lambda d: (["input"], [d.away(3, 4)], {"negative_slope": 0.2}),
        lambda a, k: F.leaky_relu(a[0], **k), extra=True)
    add("leaky_relu", "default", "torch.nn.functional.leaky_relu", lambda d: (["input"], [d.away(5)], {}),
        lambda a, k: F.leaky_relu(a[0], **k), extra=True)
    add("elu", "alpha", "torch.nn.functional.elu", lambda d: (["input"], [d.away(3, 4) * 2], {"alpha": 0.5}),
        lambda a, k: F.elu(a[0], **k), extra=True)
    add("silu", "2d", "torch.nn.functional.silu", lambda d: (["input"], [d.rn(3, 4) * 2], {}),
        lambda a, k: F.silu(a[0]), extra=True)
    add("hardtanh", "bounds", "torch.nn.functional.hardtanh",
        lambda d: (["input"], [d.away_from([-0.5, 1.0], 3, 4)], {"min_val": -0.5, "max_val": 1.0}),
        lambda a, k: F.hardtanh(a[0], **k), extra=True)
    add("logsigmoid", "wide", "torch.nn.functional.logsigmoid", lambda d: (["input"], [d.rn(3, 4) * 4], {}),
        lambda a, k: F.logsigmoid(a[0]), extra=True)
    add("erf", "2d", "torch.erf", lambda d: (["input"], [d.rn(2, 5)], {}), lambda a, k: torch.erf(a[0]), extra=True)
    add("rsqrt", "2d", "torch.rsqrt", lambda d: (["input"], [d.uniform(0.5, 3, 2, 5)], {}), lambda a, k: torch.rsqrt(a[0]), extra=True)
    # Transformer ops.
    add("tril", "diag1", "torch.tril", lambda d: (["input"], [d.rn(2, 3, 4)], {"diagonal": 1}), lambda a, k: torch.tril(a[0], **k), extra=True)
    add("triu", "neg", "torch.triu", lambda d: (["input"], [d.rn(4, 3)], {"diagonal": -1}), lambda a, k: torch.triu(a[0], **k), extra=True)
    add("cumsum", "dim1", "torch.cumsum", lambda d: (["input"], [d.rn(3, 5)], {"dim": 1}), lambda a, k: torch.cumsum(a[0], **k), extra=True)
    add("cumsum", "neg", "torch.cumsum", lambda d: (["input"], [d.rn(2, 3, 2)], {"dim": -3}), lambda a, k: torch.cumsum(a[0], **k), extra=True)
    add("split", "size", "torch.split", lambda d: (["tensor"], [d.rn(5, 2)], {"split_size_or_sections": 2, "dim": 0}),
        lambda a, k: list(torch.split(a[0], k["split_size_or_sections"], dim=k["dim"])), extra=True)
    add("split", "sections", "torch.split", lambda d: (["tensor"], [d.rn(2, 6)], {"split_size_or_sections": [1, 3, 2], "dim": 1}),
        lambda a, k: list(torch.split(a[0], k["split_size_or_sections"], dim=k["dim"])), extra=True)
    add("chunk", "3", "torch.chunk", lambda d: (["input"], [d.rn(2, 7)], {"chunks": 3, "dim": 1}),
        lambda a, k: list(torch.chunk(a[0], **k)), extra=True)
    add("embedding", "padding", "torch.nn.functional.embedding",
        lambda d: (["input", "weight"], [torch.tensor([[0, 2, 1], [2, 2, 0]]), d.rn(4, 3)], {"padding_idx": 0}),
        lambda a, k: F.embedding(a[0], a[1], **k), extra=True)
    add("embedding", "plain", "torch.nn.functional.embedding",
        lambda d: (["input", "weight"], [torch.tensor([3, 1, 3]), d.rn(5, 2)], {}),
        lambda a, k: F.embedding(a[0], a[1], **k), extra=True)
    add("layer_norm", "affine", "torch.nn.functional.layer_norm",
        lambda d: (["input", "weight", "bias"], [d.rn(2, 3, 4), d.rn(4), d.rn(4)], {"normalized_shape": [4], "eps": 1e-5}),
        lambda a, k: F.layer_norm(a[0], k["normalized_shape"], a[1], a[2], eps=k["eps"]), extra=True)
    add("layer_norm", "two_dims", "torch.nn.functional.layer_norm",
        lambda d: (["input"], [d.rn(2, 3, 4)], {"normalized_shape": [3, 4]}),
        lambda a, k: F.layer_norm(a[0], k["normalized_shape"]), extra=True)
    # Comparisons, bool tensors and indexing (issue 12).
    for op in ["eq", "ne", "lt", "le", "gt", "ge"]:
        add(op, "bcast", f"torch.{op}", lambda d: (["input", "other"], [d.index(3, 3, 4).to(d.dtype), d.index(3, 4).to(d.dtype)], {}),
            (lambda o: lambda a, k: getattr(torch, o)(a[0], a[1]))(op), extra=True)
        add(op, "number", f"torch.{op}", lambda d: (["input", "other"], [d.index(3, 2, 5).to(d.dtype), 1.0], {}),
            (lambda o: lambda a, k: getattr(torch, o)(a[0], a[1]))(op), extra=True)
    add("isclose", "tol", "torch.isclose",
        lambda d: (lambda x: (["input", "other"], [x, x * (1 + d.rn(3, 4) * 0.5) + d.rn(3, 4) * 1e-3], {"rtol": 0.3, "atol": 1e-3}))(d.rn(3, 4)),
        lambda a, k: torch.isclose(a[0], a[1], **k), extra=True)
    add("where", "bcast", "torch.where",
        lambda d: (["condition", "input", "other"], [d.rn(3, 1) > 0, d.rn(3, 4), d.rn(4)], {}),
        lambda a, k: torch.where(a[0], a[1], a[2]), extra=True)
    add("where", "number", "torch.where",
        lambda d: (["condition", "input", "other"], [d.rn(2, 3) > 0, d.rn(2, 3), -1.5], {}),
        lambda a, k: torch.where(a[0], a[1], a[2]), extra=True)
    add("masked_fill", "causal", "torch.Tensor.masked_fill",
        lambda d: (["input", "mask", "value"], [d.rn(2, 4, 4), torch.ones(4, 4).triu(1).bool(), -1e9], {}),
        lambda a, k: a[0].masked_fill(a[1], a[2]), extra=True)
    add("masked_fill", "tensor_value", "torch.Tensor.masked_fill",
        lambda d: (["input", "mask", "value"], [d.rn(3, 4), d.rn(4) > 0, d.rn()], {}),
        lambda a, k: a[0].masked_fill(a[1], a[2]), extra=True)
    add("any", "dim", "torch.any", lambda d: (["input"], [d.index(3, 3, 4) == 0], {"dim": 1}), lambda a, k: torch.any(a[0], **k), extra=True)
    add("all", "float", "torch.all", lambda d: (["input"], [d.index(2, 2, 3).to(d.dtype)], {}), lambda a, k: torch.all(a[0]), extra=True)
    add("all", "keepdim", "torch.all", lambda d: (["input"], [d.index(3, 3, 4) > 0], {"dim": 0, "keepdim": True}),
        lambda a, k: torch.all(a[0], **k), extra=True)
    add("amin", "dims", "torch.amin", lambda d: (["input"], [d.distinct(2, 3, 4)], {"dim": [0, 2]}), lambda a, k: torch.amin(a[0], **k), extra=True)
    add("amin", "ties", "torch.amin", lambda d: (["input"], [d.index(2, 3, 4).to(d.dtype)], {"dim": 1}), lambda a, k: torch.amin(a[0], **k), extra=True)
    add("min", "dim", "torch.min", lambda d: (["input"], [d.distinct(3, 4)], {"dim": 1, "keepdim": True}), lambda a, k: list(torch.min(a[0], **k)), extra=True)
    add("min", "all", "torch.min", lambda d: (["input"], [d.distinct(3, 4)], {}), lambda a, k: torch.min(a[0]), extra=True)
    add("argmin", "dim", "torch.argmin", lambda d: (["input"], [d.distinct(3, 4)], {"dim": 0}), lambda a, k: torch.argmin(a[0], **k), extra=True)
    add("sort", "desc", "torch.sort", lambda d: (["input"], [d.distinct(3, 5)], {"dim": 1, "descending": True}),
        lambda a, k: list(torch.sort(a[0], **k)), extra=True)
    add("sort", "dim0", "torch.sort", lambda d: (["input"], [d.distinct(4, 2, 3)], {"dim": 0}), lambda a, k: list(torch.sort(a[0], **k)), extra=True)
    add("unique", "counts", "torch.unique",
        lambda d: (["input"], [d.index(5, 3, 4)], {"sorted": True, "return_inverse": True, "return_counts": True}),
        lambda a, k: list(torch.unique(a[0], **k)), extra=True)
    add("nonzero", "2d", "torch.nonzero", lambda d: (["input"], [d.index(2, 3, 4).to(d.dtype)], {}), lambda a, k: torch.nonzero(a[0]), extra=True)
    add("index", "two_tensors", "torch.ops.aten.index.Tensor",
        lambda d: (["input", "indices"], [d.rn(4, 3, 2), [d.index(4, 2, 3), d.index(3, 3)]], {}),
        lambda a, k: a[0][tuple(a[1])], extra=True)
    add("index", "mask", "torch.ops.aten.index.Tensor",
        lambda d: (["input", "indices"], [d.rn(3, 4), [d.rn(3, 4) > 0]], {}), lambda a, k: a[0][tuple(a[1])], extra=True)
    add("index_put", "accumulate", "torch.Tensor.index_put",
        lambda d: (["input", "indices", "values"], [d.rn(4, 3), [torch.tensor([0, 2, 0, 3])], d.rn(4, 3)], {"accumulate": True}),
        lambda a, k: a[0].index_put(tuple(a[1]), a[2], **k), extra=True)
    add("index_put", "bcast", "torch.Tensor.index_put",
        lambda d: (["input", "indices", "values"], [d.rn(4, 3), [torch.tensor([3, 1]), torch.tensor([0, 2])], d.rn(1)], {}),
        lambda a, k: a[0].index_put(tuple(a[1]), a[2], **k), extra=True)
    add("take_along_dim", "dim", "torch.take_along_dim",
        lambda d: (["input", "indices"], [d.rn(3, 4), d.index(4, 1, 5)], {"dim": 1}), lambda a, k: torch.take_along_dim(a[0], a[1], **k), extra=True)
    add("take_along_dim", "flat", "torch.take_along_dim",
        lambda d: (["input", "indices"], [d.rn(3, 4), d.index(12, 5)], {}), lambda a, k: torch.take_along_dim(a[0], a[1]), extra=True)
    add("masked_select", "bcast", "torch.masked_select",
        lambda d: (["input", "mask"], [d.rn(3, 4), d.rn(4) > 0], {}), lambda a, k: torch.masked_select(a[0], a[1]), extra=True)
    add("clamp", "min", "torch.clamp", lambda d: (["input"], [d.away_from([-0.5], 5)], {"min": -0.5}), lambda a, k: torch.clamp(a[0], **k))
    for op in ["maximum", "minimum"]:
        add(op, "bcast", f"torch.{op}", lambda d: (["input", "other"], [d.grid(False, 2, 3), d.grid(True, 3)], {}),
            (lambda o: lambda a, k: getattr(torch, o)(a[0], a[1]))(op))
    # Linear algebra
    add("mm", "2d", "torch.mm", lambda d: (["input", "mat2"], [d.rn(2, 3), d.rn(3, 4)], {}), lambda a, k: torch.mm(a[0], a[1]))
    add("matmul", "1d_2d", "torch.matmul", lambda d: (["input", "other"], [d.rn(3), d.rn(3, 2)], {}), lambda a, k: torch.matmul(a[0], a[1]))
    add("matmul", "batched_bcast", "torch.matmul", lambda d: (["input", "other"], [d.rn(2, 1, 2, 3), d.rn(3, 3, 2)], {}),
        lambda a, k: torch.matmul(a[0], a[1]))
    add("linear", "bias", "torch.nn.functional.linear", lambda d: (["input", "weight", "bias"], [d.rn(2, 3), d.rn(4, 3), d.rn(4)], {}),
        lambda a, k: F.linear(a[0], a[1], a[2]))
    # Shapes
    add("t", "2d", "torch.t", lambda d: (["input"], [d.rn(2, 3)], {}), lambda a, k: torch.t(a[0]))
    add("transpose", "neg", "torch.transpose", lambda d: (["input"], [d.rn(2, 3, 4)], {"dim0": 0, "dim1": -1}),
        lambda a, k: torch.transpose(a[0], k["dim0"], k["dim1"]))
    add("permute", "3d", "torch.permute", lambda d: (["input"], [d.rn(2, 3, 4)], {"dims": [2, 0, 1]}), lambda a, k: torch.permute(a[0], k["dims"]))
    add("reshape", "infer", "torch.reshape", lambda d: (["input"], [d.rn(2, 3, 4)], {"shape": [4, -1]}), lambda a, k: torch.reshape(a[0], k["shape"]))
    add("squeeze", "dim", "torch.squeeze", lambda d: (["input"], [d.rn(2, 1, 3)], {"dim": 1}), lambda a, k: torch.squeeze(a[0], k["dim"]))
    add("unsqueeze", "neg", "torch.unsqueeze", lambda d: (["input"], [d.rn(2, 3)], {"dim": -1}), lambda a, k: torch.unsqueeze(a[0], k["dim"]))
    add("expand", "new_dims", "torch.Tensor.expand", lambda d: (["input"], [d.rn(3, 1)], {"size": [2, 3, 4]}), lambda a, k: a[0].expand(*k["size"]))
    # Indexing
    add("cat", "dim1", "torch.cat", lambda d: (["tensors"], [[d.rn(2, 3), d.rn(2, 1)]], {"dim": 1}), lambda a, k: torch.cat(a[0], dim=k["dim"]))
    # A legacy empty tensor (1-d of size 0) is skipped by cat; it gets an empty gradient.
    add("cat", "legacy_empty", "torch.cat",
        lambda d: (["tensors"], [[d.rn(2, 3), torch.empty(0, dtype=d.dtype), d.rn(1, 3)]], {"dim": 0}),
        lambda a, k: torch.cat(a[0], dim=k["dim"]), extra=True)
    add("stack", "neg", "torch.stack", lambda d: (["tensors"], [[d.rn(2, 3), d.rn(2, 3)]], {"dim": -1}), lambda a, k: torch.stack(a[0], dim=k["dim"]))
    add("index_select", "repeat", "torch.index_select", lambda d: (["input", "index"], [d.rn(4, 3), torch.tensor([2, 0, 2, 3])], {"dim": 0}),
        lambda a, k: torch.index_select(a[0], k["dim"], a[1]))
    add("gather", "dim1", "torch.gather", lambda d: (["input", "index"], [d.rn(2, 4), d.index(4, 2, 3)], {"dim": 1}),
        lambda a, k: torch.gather(a[0], k["dim"], a[1]))
    # An empty index of another rank gives an empty result of its shape.
    add("gather", "empty_index", "torch.gather",
        lambda d: (["input", "index"], [d.rn(2, 4), torch.empty(0, dtype=torch.long)], {"dim": 1}),
        lambda a, k: torch.gather(a[0], k["dim"], a[1]), extra=True)
    # Reductions
    add("sum", "dims_keepdim", "torch.sum", lambda d: (["input"], [d.rn(2, 3, 4)], {"dim": [0, 2], "keepdim": True}),
        lambda a, k: torch.sum(a[0], **k))
    add("mean", "neg_dim", "torch.mean", lambda d: (["input"], [d.rn(2, 3)], {"dim": -1}), lambda a, k: torch.mean(a[0], **k))
    add("amax", "dim", "torch.amax", lambda d: (["input"], [d.distinct(2, 3)], {"dim": 1}), lambda a, k: torch.amax(a[0], **k))
    add("max", "dim", "torch.max", lambda d: (["input"], [d.distinct(3, 4)], {"dim": 0}), lambda a, k: list(torch.max(a[0], **k)))
    add("max", "all", "torch.max", lambda d: (["input"], [d.distinct(3, 4)], {}), lambda a, k: torch.max(a[0]))
    add("argmax", "dim", "torch.argmax", lambda d: (["input"], [d.distinct(3, 4)], {"dim": 1}), lambda a, k: torch.argmax(a[0], **k))
    add("logsumexp", "dim", "torch.logsumexp", lambda d: (["input"], [d.rn(2, 3)], {"dim": 1}), lambda a, k: torch.logsumexp(a[0], **k))
    add("var", "correction0", "torch.var", lambda d: (["input"], [d.rn(2, 3)], {"dim": 1, "correction": 0}), lambda a, k: torch.var(a[0], **k))
    add("var", "all", "torch.var", lambda d: (["input"], [d.rn(2, 3)], {}), lambda a, k: torch.var(a[0]))
    # Softmax
    add("softmax", "dim1", "torch.softmax", lambda d: (["input"], [d.rn(2, 3)], {"dim": 1}), lambda a, k: torch.softmax(a[0], **k))
    add("softmax", "dtype", "torch.softmax", lambda d: (["input"], [d.rn(2, 3)], {"dim": 1, "dtype": "float64"}),
        lambda a, k: torch.softmax(a[0], dim=k["dim"], dtype=getattr(torch, k["dtype"])), extra=True)
    add("log_softmax", "dtype", "torch.log_softmax", lambda d: (["input"], [d.rn(3, 2)], {"dim": 0, "dtype": "float64"}),
        lambda a, k: torch.log_softmax(a[0], dim=k["dim"], dtype=getattr(torch, k["dtype"])), extra=True)
    add("log_softmax", "dim0", "torch.log_softmax", lambda d: (["input"], [d.rn(2, 3)], {"dim": 0}), lambda a, k: torch.log_softmax(a[0], **k))
    # Losses
    add("nll_loss", "weight", "torch.nn.functional.nll_loss",
        lambda d: (["input", "target", "weight"], [torch.log_softmax(d.rn(3, 4), 1), torch.tensor([0, 3, 1]), d.uniform(0.5, 2, 4)],
                   {"reduction": "mean", "ignore_index": -100}),
        lambda a, k: F.nll_loss(a[0], a[1], weight=a[2], **k))
    add("cross_entropy", "smoothing_ignore", "torch.nn.functional.cross_entropy",
        lambda d: (["input", "target", "weight"], [d.rn(4, 3), torch.tensor([0, 2, 1, 2]), d.uniform(0.5, 2, 3)],
                   {"reduction": "mean", "ignore_index": 1, "label_smoothing": 0.25}),
        lambda a, k: F.cross_entropy(a[0], a[1], weight=a[2], **k))
    add("cross_entropy", "probabilities", "torch.nn.functional.cross_entropy",
        lambda d: (["input", "target"], [d.rn(2, 3, 2), torch.softmax(d.rn(2, 3, 2), 1)], {"reduction": "sum"}),
        lambda a, k: F.cross_entropy(a[0], a[1], **k))
    add("mse_loss", "mean", "torch.nn.functional.mse_loss", lambda d: (["input", "target"], [d.rn(2, 3), d.rn(2, 3)], {"reduction": "mean"}),
        lambda a, k: F.mse_loss(a[0], a[1], **k))
    add("l1_loss", "sum", "torch.nn.functional.l1_loss",
        lambda d: (lambda x: (["input", "target"], [x, x + d.away(2, 3)], {"reduction": "sum"}))(d.rn(2, 3)),
        lambda a, k: F.l1_loss(a[0], a[1], **k))
    add("huber_loss", "default", "torch.nn.functional.huber_loss",
        lambda d: (["input", "target"], [d.rn(2, 3) * 2, d.rn(2, 3)], {}),
        lambda a, k: F.huber_loss(a[0], a[1], **k), extra=True)
    add("huber_loss", "delta_sum", "torch.nn.functional.huber_loss",
        lambda d: (["input", "target"], [d.rn(3, 4) * 2, d.rn(4)], {"reduction": "sum", "delta": 0.5}),
        lambda a, k: F.huber_loss(a[0], a[1], **k), extra=True)
    add("huber_loss", "none", "torch.nn.functional.huber_loss",
        lambda d: (["input", "target"], [d.rn(2, 3) * 3, d.rn(2, 3)], {"reduction": "none", "delta": 2.0}),
        lambda a, k: F.huber_loss(a[0], a[1], **k), extra=True)
    add("binary_cross_entropy", "weight", "torch.nn.functional.binary_cross_entropy",
        lambda d: (["input", "target", "weight"], [d.uniform(0.1, 0.9, 2, 3), d.uniform(0, 1, 2, 3), d.uniform(0.5, 2, 3)], {"reduction": "mean"}),
        lambda a, k: F.binary_cross_entropy(a[0], a[1], weight=a[2], **k))
    add("binary_cross_entropy_with_logits", "pos_weight", "torch.nn.functional.binary_cross_entropy_with_logits",
        lambda d: (["input", "target", "pos_weight"], [d.rn(2, 3) * 3, d.uniform(0, 1, 2, 3), d.uniform(0.5, 3, 3)], {"reduction": "mean"}),
        lambda a, k: F.binary_cross_entropy_with_logits(a[0], a[1], pos_weight=a[2], **k))
    add("one_hot", "classes", "torch.nn.functional.one_hot", lambda d: (["input"], [d.index(4, 5)], {"num_classes": 4}),
        lambda a, k: F.one_hot(a[0], **k))
    return S


def encode(t):
    if t is None:
        return None
    if isinstance(t, (list, tuple)):
        return [encode(x) for x in t]
    if not isinstance(t, torch.Tensor):
        return t
    t = t.detach()
    data = t.reshape(-1).tolist()
    if t.dtype == torch.bool:
        data = [int(x) for x in data]
    return {"shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", ""), "data": data}


def make_case(op, variant, fn, build, call, dtype, seed, suffix):
    name = f"{op}_{variant}_{suffix}"
    d = Draw(seed, name, dtype)
    names, args, kwargs = build(d)
    wants = []
    leaves = []
    for n, a in zip(names, args):
        diff = not (op in LOSS_OPS and n in CONSTANT_ARGS)
        if isinstance(a, torch.Tensor) and a.is_floating_point() and diff and op != "one_hot":
            a.requires_grad_(True)
            wants.append(True)
            leaves.append(a)
        elif isinstance(a, list) and all(x.is_floating_point() for x in a):
            for x in a:
                x.requires_grad_(True)
                leaves.append(x)
            wants.append(True)
        else:
            wants.append(False)
    out = call(args, kwargs)
    outs = out if isinstance(out, list) else [out]
    # One cotangent per differentiable output (split and chunk have several; max's indices none).
    cots = [torch.randn(o.shape, generator=d.g, dtype=torch.float64).to(o.dtype)
            if o.is_floating_point() and o.requires_grad else None for o in outs]
    grads = [None] * len(args)
    if any(c is not None for c in cots):
        total = sum((o * c).sum() for o, c in zip(outs, cots) if c is not None)
        got = torch.autograd.grad(total, leaves, allow_unused=True)
        k = 0
        for i, a in enumerate(args):
            if not wants[i]:
                continue
            if isinstance(a, list):
                grads[i] = [encode(g if g is not None else torch.zeros_like(x)) for g, x in zip(got[k:k + len(a)], a)]
                k += len(a)
            else:
                grads[i] = encode(got[k] if got[k] is not None else torch.zeros_like(a))
                k += 1
    cot_field = [encode(c) for c in cots] if isinstance(out, list) else encode(cots[0])
    return {"name": name, "op": op, "fn": fn, "dtype": "int64" if op == "one_hot" else str(dtype).replace("torch.", ""),
            "arg_names": names, "args": [encode(a) for a in args], "kwargs": kwargs, "output": encode(out),
            "cotangent": cot_field, "grads": grads}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="reference.json", help="output file (default reference.json)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", choices=["float32", "float64", "both"], default="both")
    p.add_argument("--ops", default="", help="comma-separated PyTorch op names (default: all)")
    p.add_argument("--cases", type=int, default=1, help="random cases per op variant and dtype (default 1)")
    p.add_argument("--extra", action="store_true",
                   help="only the cases beyond the shared golden set (the project's Sources/backprop/Reference/more_ops.json)")
    opts = p.parse_args()

    torch.set_num_threads(1)
    all_specs = specs()
    wanted = [o for o in opts.ops.split(",") if o] or list(all_specs)
    if opts.extra:
        wanted = [o for o in wanted if any(spec[4] for spec in all_specs[o])]
    unknown = [o for o in wanted if o not in all_specs]
    if unknown:
        sys.exit(f"error: unknown op(s) {', '.join(unknown)}; known: {', '.join(sorted(all_specs))}")
    dtypes = {"float32": [torch.float32], "float64": [torch.float64], "both": [torch.float32, torch.float64]}[opts.dtype]
    cases = []
    for op in wanted:
        for variant, fn, build, call, extra in all_specs[op]:
            if opts.extra and not extra:
                continue
            for dt in dtypes if op != "one_hot" else [torch.float64]:
                for r in range(opts.cases):
                    suffix = ("f32" if dt == torch.float32 else "f64") if op != "one_hot" else "i64"
                    if opts.cases > 1:
                        suffix = f"{r}_{suffix}"
                    cases.append(make_case(op, variant, fn, build, call, dt, opts.seed + r, suffix))
    doc = {"generator": f"PyTorch {torch.__version__} (scripts/make_reference.py)", "seed": opts.seed, "cases": cases}
    directory = os.path.dirname(os.path.abspath(opts.out))
    fd, tmp = tempfile.mkstemp(prefix=".reference-", suffix=".json", dir=directory)
    try:
        with os.fdopen(fd, "w") as f:
            f.write('{"generator": %s, "seed": %d, "cases": [\n' % (json.dumps(doc["generator"]), opts.seed))
            f.write(",\n".join(json.dumps(c) for c in cases))
            f.write("\n]}\n")
        os.replace(tmp, opts.out)
    except BaseException:
        os.unlink(tmp)
        raise
    print(f"wrote {len(cases)} cases of {len(wanted)} ops to {opts.out}")


if __name__ == "__main__":
    main()

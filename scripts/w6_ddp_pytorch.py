"""W6 (../shared/WORKLOADS.md) data-parallel: PyTorch DDP over Gloo, the peer of
`mpirun -np 2 backprop-bench --only w6 --threads 1` (issue 17).

    torchrun --nproc_per_node 2 scripts/w6_ddp_pytorch.py --threads 1 --json   # 2 ranks, 1 thread each
    python scripts/w6_ddp_pytorch.py --threads 1 --json                        # 1 process, no DDP

MLP 784-512-256-10, SGD lr 0.01 momentum 0.9, cross-entropy. The batch of 128 rows is the global
batch: each of R ranks trains on rows r, r + R, ... of it (DistributedSampler's split), and
samples/s counts the 128. 20 warm-up steps, three windows of >= 2 s, median. Rank 0's clock ends
each window and tells the others with a broadcast every step (as the Backprop side does), so that
every rank takes the same number of steps. Only rank 0 prints.
"""
import argparse, json, os, statistics, time

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

ap = argparse.ArgumentParser()
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--json", action="store_true")
args = ap.parse_args()
torch.set_num_threads(args.threads)

distributed = "RANK" in os.environ
if distributed:
    dist.init_process_group("gloo")
rank = dist.get_rank() if distributed else 0
world = dist.get_world_size() if distributed else 1

torch.manual_seed(0)
X = torch.randn(60000, 784)
Y = torch.randint(0, 10, (60000,))
BS, NB = 128, 60000 // 128
assert BS % world == 0
xs = [X[k * BS:(k + 1) * BS][rank::world].contiguous() for k in range(NB)]
ys = [Y[k * BS:(k + 1) * BS][rank::world].contiguous() for k in range(NB)]
model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))
net = nn.parallel.DistributedDataParallel(model) if distributed else model
opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
flag = torch.zeros(1)


def step(i):
    j = i % NB
    opt.zero_grad()
    loss = F.cross_entropy(net(xs[j]), ys[j])
    loss.backward()
    opt.step()


def go_on(elapsed):
    if not distributed:
        return elapsed < 2.0
    flag[0] = 1.0 if elapsed < 2.0 else 0.0
    dist.broadcast(flag, src=0)
    return flag[0].item() != 0


i = 0
for _ in range(20):
    step(i); i += 1
timed_from = i
cpu0 = time.process_time()
windows = []
for _ in range(3):
    k, t0 = 0, time.perf_counter()
    while True:
        step(i); i += 1; k += 1
        if not go_on(time.perf_counter() - t0):
            break
    windows.append(k * BS / (time.perf_counter() - t0))

# CPU seconds per step summed over the ranks (whether or not each rank had a core of its own).
cpu = torch.tensor([time.process_time() - cpu0], dtype=torch.float64)
if distributed:
    dist.all_reduce(cpu)
cpu_ms = cpu.item() / (i - timed_from) * 1e3
if rank == 0:
    med = statistics.median(windows)
    res = {"samples_per_s": round(med, 1), "samples_per_s_all": [round(w, 1) for w in windows],
           "step_ms": round(BS / med * 1e3, 3), "cpu_ms_per_step_all_ranks": round(cpu_ms, 3), "world_size": world, "threads": args.threads,
           "backend": "gloo" if distributed else "none", "torch": torch.__version__}
    if args.json:
        print(json.dumps({"workload": "W6_mlp_ddp", "results": res}))
    else:
        print(f"W6 PyTorch {'DDP/gloo' if distributed else 'single process'}: {world} rank(s) x {args.threads} thread(s): "
              f"{med:.1f} samples/s (windows {', '.join(f'{w:.0f}' for w in windows)})")
if distributed:
    dist.destroy_process_group()

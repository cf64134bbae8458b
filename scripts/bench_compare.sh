#!/usr/bin/env bash
# Runs Backprop's benchmarks (backprop-bench) and the PyTorch reference scripts
# (../shared/bench/pytorch, or $PYTORCH_BENCH) alternately, workload by workload, in the same
# window, and prints the ratios. JAX (../shared/bench/jax) runs too where `import jax` works.
#
#   scripts/bench_compare.sh [THREADS=2] [WORKLOADS=w1,w2,w3,w4,w5,w6,w7,w8,w9; w10 is CharGPT training] [OUT_DIR]
#
# Environment: PY (default /work/venv/bin/python, else python3), PYTORCH_BENCH, JAX_BENCH,
# BACKPROP_BLAS (passed through to backprop-bench), BASELINE_BENCH (another backprop-bench binary,
# e.g. built from an older commit: run alternately too, shown as the peer "before").
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
T="${1:-2}"
LIST="${2:-w1,w2,w3,w4,w5,w6,w7,w8,w9}"
OUT="${3:-$HERE/.build/bench-compare-$(date +%Y%m%d-%H%M%S)}"
PY="${PY:-/work/venv/bin/python}"
[ -x "$PY" ] || PY=python3
PT="${PYTORCH_BENCH:-$HERE/../shared/bench/pytorch}"
[ -d "$PT" ] || PT=/work/shared/bench/pytorch
JX="${JAX_BENCH:-$(dirname "$PT")/jax}"
mkdir -p "$OUT"

cd "$HERE"
swift build -c release --product backprop-bench >&2
BENCH="$(swift build -c release --show-bin-path)/backprop-bench"
HAVE_TORCH=0; "$PY" -c "import torch" 2>/dev/null && HAVE_TORCH=1
HAVE_JAX=0; "$PY" -c "import jax" 2>/dev/null && HAVE_JAX=1
[ "$HAVE_TORCH" = 1 ] || echo "note: PyTorch is not importable with $PY; only Backprop runs" >&2

# Before each run, wait (up to QUIET_WAIT_S, default 60 s) until other processes use < 0.25 cores,
# as ../shared/bench/pytorch/run_all.sh does, so that a co-tenant's burst is less likely to land
# inside one side's measurement.
QUIET_WAIT_S="${QUIET_WAIT_S:-60}"
wait_quiet() {
  "$PY" - "$QUIET_WAIT_S" <<'QEOF' >/dev/null
import sys, time
def busy():
    v = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
deadline = time.time() + float(sys.argv[1])
while True:
    b0 = busy(); time.sleep(1.0); load = (busy() - b0) / 100.0
    if load < 0.25 or time.time() > deadline:
        print(round(load, 2)); break
QEOF
}

for w in ${LIST//,/ }; do
    name="$(cd "$PT" && ls ${w}_*.py 2>/dev/null | head -1)"; name="${name%.py}"
    [ -n "$name" ] || name="$("$BENCH" --json --only "$w" --threads "$T" --in-process | "$PY" -c 'import json,sys; print(next(iter(json.load(sys.stdin)["workloads"])))')"
    wait_quiet; echo "[$(date +%T)] $name: backprop" >&2
    "$BENCH" --json --only "$w" --threads "$T" --in-process > "$OUT/$name.backprop.json"
    if [ -n "${BASELINE_BENCH:-}" ]; then
        wait_quiet; echo "[$(date +%T)] $name: before ($BASELINE_BENCH)" >&2
        "$BASELINE_BENCH" --json --only "$w" --threads "$T" --in-process > "$OUT/$name.before.json"
    fi
    if [ "$HAVE_TORCH" = 1 ] && [ -f "$PT/$name.py" ]; then
        wait_quiet; echo "[$(date +%T)] $name: pytorch" >&2
        "$PY" "$PT/$name.py" --json --threads "$T" > "$OUT/$name.pytorch.json"
    fi
    if [ "$HAVE_JAX" = 1 ] && [ -f "$JX/$name.py" ]; then
        wait_quiet; echo "[$(date +%T)] $name: jax" >&2
        "$PY" "$JX/$name.py" --json --threads "$T" > "$OUT/$name.jax.json"
    fi
done

"$PY" - "$OUT" "$T" <<'PYEOF'
import glob, json, os, sys
out, threads = sys.argv[1], sys.argv[2]
# For each key: True when bigger is better.
higher = lambda k: (k.endswith("gflops") or k.endswith("gbs") or k.startswith("samples_per_s")
                    or k.startswith("tokens_per_s") or k.startswith("infer_images_per_s"))
PEERS = ("pytorch", "jax", "before")
rows = []
for bp in sorted(glob.glob(os.path.join(out, "*.backprop.json"))):
    name = os.path.basename(bp)[:-len(".backprop.json")]
    b = json.load(open(bp))["workloads"][name]["results"]
    peers = {}
    for peer in PEERS:
        p = os.path.join(out, f"{name}.{peer}.json")
        if os.path.exists(p):
            j = json.load(open(p))
            peers[peer] = j["workloads"][name]["results"] if "workloads" in j else j["results"]
    for k, v in b.items():
        if not isinstance(v, (int, float)) or "spread" in k or "best" in k or k in ("steps", "steps_total", "steps_per_repeat", "final_loss"):
            continue
        cells = []
        # A compiled figure (key_compiled) is held against the peer's figure for the same work.
        base = k.replace("_compiled", "")
        for peer in PEERS:
            pv = peers.get(peer, {}).get(k, peers.get(peer, {}).get(base) if peer != "before" else None)
            if isinstance(pv, (int, float)) and pv and v:
                # speed-up of Backprop over the peer (>1: Backprop faster / smaller)
                r = (v / pv) if higher(k) else (pv / v)
                cells.append(f"{peer} {pv:>10.4g}  x{r:7.2f}")
            elif peer in peers:
                cells.append(f"{peer} {'-':>10s}  {'':8s}")
        rows.append((name.split("_")[0] + " " + k, v, "   ".join(cells)))
print(f"threads={threads}   (xN = how many times Backprop is faster, or smaller for memory; >1 is better)")
print(f"{'metric':36s} {'backprop':>10s}   peers")
for k, v, c in rows:
    print(f"{k:36s} {v:>10.4g}   {c}")
print(f"(raw JSON in {out})")
PYEOF

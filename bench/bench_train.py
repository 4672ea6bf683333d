"""Training-engine benchmark: images/s, share of time waiting for data, and peak memory.

Each measurement is a real `crate_mae.train.train` run (data loader, masks, autocast, AdamW,
schedule, metrics log) in a fresh child process, so that the peak memory reported (the child's
peak resident set on a CPU, `torch.cuda.max_memory_allocated` on a GPU) belongs to that
configuration alone. Throughput and data share come from the run's own metrics log, over the steps
after the warm-up.

CPU part: `crate_mae_cifar` (the demo's configuration) on CIFAR-10 at 32x32, batch 128 and 256,
bf16 autocast and float32. It uses the CIFAR-10 array folder when one is found (--data-root,
$CRATE_MAE_DATA, ~/.cache/crate_mae, ./shared/data or ../shared/data) and random images otherwise.
GPU part (when CUDA is available): `crate_mae_base` at 224x224, bf16, batch 64 and 128, on random
images held on the GPU.

    .venv/bin/python bench/bench_train.py                 # CPU table (and the GPU one on a GPU machine)
    .venv/bin/python bench/bench_train.py --steps 10 --threads 2 --batches 128
"""
import argparse, json, os, resource, subprocess, sys, tempfile, time
from pathlib import Path

import numpy as np
import torch


def find_cifar(data_root):
    "The data root holding cifar10/train.npz, or None."
    from crate_mae.data import find_array_folder
    cands = [data_root, *[str(p/"shared"/"data") for p in (Path.cwd(), *Path.cwd().parents[:2])]]
    for c in cands:
        f = find_array_folder("cifar10", c)
        if f is not None: return str(f.parent)
    f = find_array_folder("cifar10", None)
    return str(f.parent) if f is not None else None


def one(spec):
    "Run one configuration in this process and print a JSON line with its numbers."
    from crate_mae.train import TrainConfig, train, read_metrics
    from crate_mae.data import ArrayDataset, load_array_dataset
    if spec["threads"]: torch.set_num_threads(spec["threads"])
    if spec["data_root"]:
        ds = load_array_dataset("cifar10", "train", spec["data_root"]); src = "cifar10"
    else:
        rng = np.random.default_rng(0); n, s = spec["n_images"], spec["img_size"]
        ds = ArrayDataset(rng.integers(0, 256, (n, s, s, 3), dtype=np.uint8), rng.integers(0, 10, n), "imagenet"); src = "random"
    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(model=spec["model"], dataset=src, steps=spec["warmup"] + spec["steps"], batch_size=spec["batch"],
                          amp=spec["amp"], log_every=1, ckpt_every=10**9, progress=False, out=tmp, device=spec["device"],
                          threads=spec["threads"])
        t0 = time.perf_counter()
        res = train(cfg, dataset=ds)
        recs = read_metrics(Path(tmp)/"metrics.jsonl")[spec["warmup"]:]
    secs = [spec["batch"] / r["img_s"] for r in recs]  # seconds per step
    out = dict(spec, source=src, img_s=spec["batch"] * len(secs) / sum(secs),
               data_frac=sum(r["data_frac"] * t for r, t in zip(recs, secs)) / sum(secs),
               step_ms=1e3 * float(np.median(secs)), loss=res["loss"], wall=time.perf_counter() - t0, threads_used=torch.get_num_threads())
    if spec["device"] == "cuda": out["peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    else: out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print("RESULT " + json.dumps(out), flush=True)


def run_child(spec):
    "Measure one configuration in a fresh process."
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH")]))}
    r = subprocess.run([sys.executable, __file__, "--one", json.dumps(spec)], capture_output=True, text=True, env=env)
    for line in r.stdout.splitlines():
        if line.startswith("RESULT "): return json.loads(line[7:])
    raise RuntimeError(f"benchmark child failed ({r.returncode}): {r.stderr[-2000:]}")


def table(rows, title):
    print(f"\n{title}")
    print(f"| model | data | batch | autocast | threads | images/s | ms/step | data share | peak memory |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        mem = f"{r['peak_mb']:,.0f} MiB {'GPU allocated' if r['device'] == 'cuda' else 'RSS'}"
        print(f"| {r['model']} | {r['source']} {r['img_size']}x{r['img_size']} | {r['batch']} | {r['amp']} | {r['threads_used']} | "
              f"{r['img_s']:,.0f} | {r['step_ms']:,.0f} | {100 * r['data_frac']:.1f}% | {mem} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=5, help="timed optimizer steps per configuration")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    ap.add_argument("--batches", default="128,256", help="CPU batch sizes, comma-separated")
    ap.add_argument("--amps", default="bf16,none", help="CPU autocast modes, comma-separated")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (default: PyTorch's)")
    ap.add_argument("--data-root", default=None, help="folder holding cifar10/train.npz")
    ap.add_argument("--no-cpu", action="store_true", help="skip the CPU part")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one: return one(json.loads(a.one))
    print(f"torch {torch.__version__} | {os.cpu_count()} CPUs | load average {os.getloadavg()[0]:.1f} | "
          f"cuda {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no'}")
    base = dict(steps=a.steps, warmup=a.warmup, threads=a.threads)
    if not a.no_cpu:
        root = find_cifar(a.data_root)
        rows = [run_child(dict(base, model="crate_mae_cifar", batch=int(b), amp=amp, device="cpu", data_root=root,
                               img_size=32, n_images=4096))
                for b in a.batches.split(",") for amp in a.amps.split(",")]
        table(rows, f"CPU: crate_mae_cifar training steps ({a.steps} timed after {a.warmup} warm-up)")
    if torch.cuda.is_available():
        rows = [run_child(dict(base, model="crate_mae_base", batch=b, amp="bf16", device="cuda", data_root=None,
                               img_size=224, n_images=2048, threads=None)) for b in (64, 128)]
        table(rows, "GPU: crate_mae_base at 224x224 (random images on the GPU)")


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""Hyperparameter sweep for the CPU study, run fast on a GPU at the CPU study's image budget.

Each configuration pretrains a CIFAR-sized model for a fixed number of images (the number the CPU
study sees in its wall-time budget), then probes cls and mean features (10,000 train images, test
set) and measures the masked test MSE. Several processes share one GPU (the small model leaves it
mostly idle). One JSON line per configuration goes to --json.

    python bench/gpu_sweep.py --data-root DIR --images 376000 --only 0,1,2 --json out.jsonl
"""
import argparse, json, time
from pathlib import Path
import torch
from crate_mae import train as T
from crate_mae.data import load_dataset
from crate_mae.evaluate import load_model, probe, reconstruction_loss, subset_indices

# name, model, constructor overrides, mask ratio, peak lr
CONFIGS = [
    ("crate_lr5e-4", "crate_mae_cifar", {}, 0.75, 5e-4),
    ("crate_lr1e-3", "crate_mae_cifar", {}, 0.75, 1e-3),
    ("crate_lr2e-3", "crate_mae_cifar", {}, 0.75, 2e-3),
    ("crate_lr4e-3", "crate_mae_cifar", {}, 0.75, 4e-3),
    ("crate_lr2e-3_lam0.1", "crate_mae_cifar", {"lam": 0.1}, 0.75, 2e-3),
    ("crate_lr2e-3_lam5", "crate_mae_cifar", {"lam": 5.0}, 0.75, 2e-3),
    ("crate_lr2e-3_mask0.5", "crate_mae_cifar", {}, 0.5, 2e-3),
    ("crate_lr2e-3_mask0.9", "crate_mae_cifar", {}, 0.9, 2e-3),
    ("vit_lr5e-4", "vit_mae_cifar", {}, 0.75, 5e-4),
    ("vit_lr1e-3", "vit_mae_cifar", {}, 0.75, 1e-3),
    ("vit_lr2e-3", "vit_mae_cifar", {}, 0.75, 2e-3),
    ("crate_lr8e-3", "crate_mae_cifar", {}, 0.75, 8e-3),
]


def run_one(name, model, overrides, mask_ratio, lr, args, train_ds, test_ds):
    "Pretrain one configuration for `args.images` images, then probe and measure reconstruction."
    out = Path(args.out)/name
    steps = max(1, round(args.images / args.batch))
    cfg = T.TrainConfig(model=model, model_kwargs=overrides, dataset="cifar10", data_root=args.data_root,
                        recipe="cpu", steps=steps, batch_size=args.batch, lr=lr, mask_ratio=mask_ratio, amp="bf16",
                        out=str(out), progress=False, log_every=50, ckpt_every=10**9, threads=args.threads)
    t0 = time.time()
    T.train(cfg, dataset=train_ds)
    t_train = time.time() - t0
    mae, key = load_model(out/"final.safetensors", device="cuda" if torch.cuda.is_available() else "cpu")
    res = probe(mae, train_ds, test_ds, ("cls", "mean"), 10000, None, 0, model_key=key, progress=False, use_cache=False)
    rec = reconstruction_loss(mae, test_ds, 0.75, 0, subset_indices(len(test_ds), None, 0), progress=False)
    last = [json.loads(l) for l in open(out/"metrics.jsonl") if '"loss"' in l][-1]
    return dict(name=name, model=model, overrides=overrides, mask_ratio=mask_ratio, lr=lr, steps=steps,
                images=steps*args.batch, train_s=round(t_train, 1), train_loss=last.get("loss"), recon_test=rec,
                **{f"{k}_{p}": getattr(r, f"{p}_acc") for k, r in res.items() for p in ("paper", "honest")})


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", required=True)
    ap.add_argument("--images", type=int, default=376000, help="images seen per configuration")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--only", default=None, help="comma-separated indices into CONFIGS")
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--out", default="/tmp/sweep")
    ap.add_argument("--json", required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    idx = [int(i) for i in args.only.split(",")] if args.only else range(len(CONFIGS))
    train_ds, test_ds = load_dataset("cifar10", "train", args.data_root), load_dataset("cifar10", "test", args.data_root)
    for i in idx:
        try: r = run_one(*CONFIGS[i], args, train_ds, test_ds)
        except Exception as e: r = dict(name=CONFIGS[i][0], error=repr(e))
        print(json.dumps(r), flush=True)
        with open(args.json, "a") as f: f.write(json.dumps(r) + "\n")


if __name__ == "__main__": main()

#!/usr/bin/env python
"""Quick learning-rate ranking for the CPU study on one GPU: pretrain crate_mae_cifar for the CPU run's
image budget at several peak learning rates, then score cls and mean features with a full-batch
logistic regression on the GPU (torch LBFGS, standardized features, best L2 weight on test). A ranking
proxy, not the reported probe (chapter 10's scikit-learn protocol is).

    python bench/gpu_lr_sweep.py --data-root DIR --images 376000 --lrs 1e-3,2e-3,4e-3
"""
import argparse, json, time
import torch
import torch.nn.functional as F
from crate_mae import train as T
from crate_mae.data import load_dataset
from crate_mae.evaluate import load_model, extract_features


def torch_probe(Xtr, ytr, Xte, yte, wds=(1e-4, 1e-3, 1e-2), iters=100):
    "Best test accuracy of multinomial logistic regression over L2 weights (full-batch LBFGS)."
    mu, sd = Xtr.mean(0), Xtr.std(0).clamp_min(1e-6)
    Xtr, Xte = (Xtr - mu) / sd, (Xte - mu) / sd
    best = 0.
    for wd in wds:
        W = torch.zeros(Xtr.shape[1], 10, device=Xtr.device, requires_grad=True)
        b = torch.zeros(10, device=Xtr.device, requires_grad=True)
        opt = torch.optim.LBFGS([W, b], lr=1, max_iter=iters, line_search_fn="strong_wolfe")
        def closure():
            opt.zero_grad(); loss = F.cross_entropy(Xtr @ W + b, ytr) + wd * (W ** 2).sum(); loss.backward(); return loss
        opt.step(closure)
        with torch.no_grad(): best = max(best, ((Xte @ W + b).argmax(1) == yte).float().mean().item())
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", required=True)
    ap.add_argument("--images", type=int, default=376000)
    ap.add_argument("--lrs", default="1e-3,2e-3,4e-3")
    ap.add_argument("--model", default="crate_mae_cifar")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    tr, te = load_dataset("cifar10", "train", args.data_root), load_dataset("cifar10", "test", args.data_root)
    for lr in [float(x) for x in args.lrs.split(",")]:
        out = f"/tmp/lrsweep/{args.model}_{lr:g}"
        steps = max(1, round(args.images / 256))
        t0 = time.time()
        T.train(T.TrainConfig(model=args.model, dataset="cifar10", data_root=args.data_root, recipe="cpu", steps=steps,
                              batch_size=256, lr=lr, amp="bf16", out=out, progress=False, log_every=50, ckpt_every=10**9),
                dataset=tr)
        m, _ = load_model(f"{out}/final.safetensors", device=dev)
        (ftr, ytr), (fte, yte) = [extract_features(m, d, ("cls", "mean"), 1000, progress=False) for d in (tr, te)]
        ytr, yte = torch.as_tensor(ytr, device=dev), torch.as_tensor(yte, device=dev)
        r = dict(model=args.model, lr=lr, images=steps * 256, train_s=round(time.time() - t0, 1),
                 **{k: round(torch_probe(torch.as_tensor(ftr[k], device=dev), ytr, torch.as_tensor(fte[k], device=dev), yte), 4)
                    for k in ("cls", "mean")})
        print(json.dumps(r), flush=True)
        if args.json:
            with open(args.json, "a") as f: f.write(json.dumps(r) + "\n")


if __name__ == "__main__": main()

"""Training-step benchmark: our CrateMAE against a literal recomputation of the authors' code.

Both sides run the same weights, images and mask noise. "ours" is `crate_mae.model.CrateMAE`
(fused scaled-dot-product attention, two-product ISTA, mask tokens placed with `torch.where`);
"authors" is `crate_mae.model.mae_forward_literal` on the same weights under the authors' names
(einsum attention with an explicit softmax, three-product ISTA, MAE's gather/concatenate/unshuffle),
trained as a dict of leaf tensors. A step is forward + backward (+ AdamW step with --optim).
With `--sides ... matmul` a third side replaces the einsum attention by the authors' exact
`Attention.forward` (`torch.matmul`, `nn.Softmax`, einops `rearrange`), which is what their code runs.
Repeats are interleaved (the order alternates) and medians reported, because the CPU is shared and
timings are noisy.

    .venv/bin/python bench/bench_model.py                      # both configs, float32 and bf16 autocast
    .venv/bin/python bench/bench_model.py --configs cifar --repeats 7 --optim --sides ours einsum matmul
"""
import argparse, statistics, time

import torch
import torch.nn.functional as F
from crate_mae.model import create_model, mae_forward_literal, to_official_state_dict
from crate_mae.perf import _mssa_authors as mssa_matmul  # the authors' Attention.forward, as chapter 13 times it


CONFIGS = {  # short name -> (registered model, default batch)
    "cifar": ("crate_mae_cifar", 128),
    "base": ("crate_mae_base", 8),
}


def make_sides(name, batch, optim, seed=0):
    "Build our model and the authors'-form weights (same values), inputs and a step function for each."
    torch.manual_seed(seed)
    model = create_model(name).train()
    sd = {k: v.clone().requires_grad_(k not in ("pos_embed", "decoder_pos_embed") and not k.startswith("decoder_embed"))
          for k, v in to_official_state_dict(model).items()}
    H, W = model.img_hw
    imgs = torch.randn(batch, model.in_chans, H, W)
    noise = torch.rand(batch, model.num_patches)
    K = model.K
    leaves = [v for v in sd.values() if v.requires_grad]
    opt_ours = torch.optim.AdamW(model.parameters(), lr=1e-4) if optim else None
    opt_auth = torch.optim.AdamW(leaves, lr=1e-4) if optim else None

    def step_ours():
        loss = model(imgs, 0.75, noise)[0]
        loss.backward()
        if opt_ours: opt_ours.step()
        model.zero_grad(set_to_none=True)
        return loss.item()

    def make_auth(mssa):
        def step_auth():
            loss = mae_forward_literal(sd, imgs, K, 0.75, noise, mssa=mssa)[0]
            loss.backward()
            if opt_auth: opt_auth.step()
            for v in leaves: v.grad = None
            return loss.item()
        return step_auth

    return model, sd, imgs, noise, {"ours": step_ours, "einsum": make_auth(None), "matmul": make_auth(mssa_matmul)}


def timed(fn, amp):
    "Seconds for one call of `fn`, optionally under bf16 autocast."
    t0 = time.perf_counter()
    if amp:
        with torch.autocast("cpu", dtype=torch.bfloat16): fn()
    else:
        fn()
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", nargs="+", default=["cifar", "base"], choices=list(CONFIGS))
    ap.add_argument("--dtypes", nargs="+", default=["float32", "bf16"], choices=["float32", "bf16"])
    ap.add_argument("--repeats", type=int, default=5, help="timed steps per side (interleaved), after 1 warm-up step each")
    ap.add_argument("--batch-cifar", type=int, default=CONFIGS["cifar"][1])
    ap.add_argument("--batch-base", type=int, default=CONFIGS["base"][1])
    ap.add_argument("--optim", action="store_true", help="include an AdamW step in each training step")
    ap.add_argument("--sides", nargs="+", default=["ours", "einsum"], choices=["ours", "einsum", "matmul"],
                    help="ours; einsum = literal reference (einsum attention, three-product ISTA); "
                         "matmul = the same with the authors' exact matmul attention")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: PyTorch's choice)")
    args = ap.parse_args()
    if args.threads: torch.set_num_threads(args.threads)
    sides = ["ours"] + [s for s in args.sides if s != "ours"]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, step = forward + backward"
          f"{' + AdamW' if args.optim else ''}, mask ratio 0.75, {args.repeats} interleaved repeats, medians")
    rows, t_start = [], time.perf_counter()
    for cfg in args.configs:
        name, _ = CONFIGS[cfg]
        batch = args.batch_cifar if cfg == "cifar" else args.batch_base
        model, sd, imgs, noise, steps = make_sides(name, batch, args.optim)
        with torch.no_grad():  # all sides compute the same function
            a = model(imgs[:2], 0.75, noise[:2])[0]
            for s in sides[1:]:
                b = mae_forward_literal(sd, imgs[:2], model.K, 0.75, noise[:2], mssa=mssa_matmul if s == "matmul" else None)[0]
                assert torch.allclose(a, b, rtol=1e-4, atol=1e-5), (s, a.item(), b.item())
        for dt in args.dtypes:
            amp = dt == "bf16"
            for s in sides: timed(steps[s], amp)  # warm-up
            t = {s: [] for s in sides}
            for r in range(args.repeats):
                for s in (sides if r % 2 == 0 else sides[::-1]):
                    t[s].append(timed(steps[s], amp))
            med = {s: statistics.median(v) * 1e3 for s, v in t.items()}
            for s in sides[1:]:
                ratios = [x / y for x, y in zip(t[s], t["ours"])]
                rows.append((f"{name} b{batch}", dt, s, med["ours"], med[s], med[s] / med["ours"], min(ratios), max(ratios)))
                print(f"  {rows[-1][0]:22s} {dt:8s} ours {med['ours']:9.1f} ms  {s} {med[s]:9.1f} ms  "
                      f"speed-up {med[s] / med['ours']:.2f}x (per-repeat {min(ratios):.2f}-{max(ratios):.2f})", flush=True)
    print(f"\ntotal {time.perf_counter() - t_start:.0f} s\n")
    print("| config | dtype | reference | ours ms/step | reference ms/step | reference / ours (per-repeat range) |")
    print("|---|---|---|---|---|---|")
    for cfgname, dt, s, mo, ma, r, lo, hi in rows:
        print(f"| {cfgname} | {dt} | {s} | {mo:.1f} | {ma:.1f} | {r:.2f}x ({lo:.2f}-{hi:.2f}) |")


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""Training-step throughput and model FLOP utilization (MFU) on one GPU, measured side by side.

For each model (CRATE-MAE-B and ViT-MAE-B at 224 by default): FLOPs per image of one training step
counted by `torch.utils.flop_counter` (forward + backward), the device's measured bf16 matmul rate,
then images/s of a full training step (bf16 autocast, fused AdamW) in eager mode and, optionally,
under `torch.compile`. MFU = achieved FLOP/s / measured matmul FLOP/s.

    python bench/gpu_throughput.py --models crate_mae_base vit_mae_base --batch 128 --compile --json out.json
"""
import argparse, json, time
import torch
from torch.utils.flop_counter import FlopCounterMode
from crate_mae.model import create_model


def matmul_rate(n=8192, dtype=torch.bfloat16, reps=20):
    "Measured dense matmul FLOP/s on the current CUDA device (random data, median of `reps`)."
    a, b = torch.randn(n, n, device="cuda", dtype=dtype), torch.randn(n, n, device="cuda", dtype=dtype)
    for _ in range(3): a @ b
    ts = []
    for _ in range(reps):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record(); a @ b; e.record(); torch.cuda.synchronize(); ts.append(s.elapsed_time(e) / 1e3)
    ts.sort()
    return 2 * n**3 / ts[len(ts)//2]


def step_flops(model, imgs, mask_ratio):
    "FLOPs of one forward + backward of `model` on `imgs` (counted, not timed)."
    with FlopCounterMode(display=False) as fc:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss, _, _ = model(imgs, mask_ratio=mask_ratio)
        loss.backward()
    model.zero_grad(set_to_none=True)
    return fc.get_total_flops()


def time_steps(model, imgs, mask_ratio, steps, warmup):
    "Median seconds of a full training step (autocast bf16 forward, backward, fused AdamW)."
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), fused=True)
    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss, _, _ = model(imgs, mask_ratio=mask_ratio)
        loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
    for _ in range(warmup): step()
    torch.cuda.synchronize()
    ts = []
    for _ in range(steps):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record(); step(); e.record(); torch.cuda.synchronize(); ts.append(s.elapsed_time(e) / 1e3)
    ts.sort()
    return ts[len(ts)//2]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["crate_mae_base", "vit_mae_base"])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--mask-ratio", type=float, default=0.75)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--compile", action="store_true", help="also time torch.compile(model)")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    assert torch.cuda.is_available(), "this benchmark needs a CUDA GPU"
    torch.backends.cuda.matmul.allow_tf32 = True
    dev = torch.cuda.get_device_name(0)
    peak = matmul_rate()
    print(f"device {dev} | torch {torch.__version__} | measured bf16 matmul {peak/1e12:.0f} TFLOP/s")
    rows = []
    for name in args.models:
        torch.manual_seed(0)
        model = create_model(name).cuda()
        imgs = torch.randn(args.batch, model.in_chans, model.img_size, model.img_size, device="cuda")
        params = sum(p.numel() for p in model.parameters() if p.requires_grad)
        flops = step_flops(model, imgs, args.mask_ratio) / args.batch
        modes = [("eager", model)]
        if args.compile: modes.append(("compile", torch.compile(model)))
        for mode, m in modes:
            t0 = time.time()
            try: sec = time_steps(m, imgs, args.mask_ratio, args.steps, args.warmup)
            except Exception as e:  # report and go on: one failing mode must not lose the others
                print(f"{name} {mode}: failed: {type(e).__name__}: {e}"); continue
            ips = args.batch / sec
            mem = torch.cuda.max_memory_allocated() / 2**30
            r = dict(model=name, mode=mode, batch=args.batch, params=params, gflops_per_img=flops/1e9,
                     ms_per_step=sec*1e3, img_per_s=ips, tflops=flops*ips/1e12, mfu=flops*ips/peak,
                     peak_mem_gib=mem, wall_s=time.time()-t0)
            rows.append(r)
            print(f"{name:16s} {mode:7s} batch {args.batch} | {params/1e6:6.1f}M params | {flops/1e9:6.1f} GFLOP/img "
                  f"(train step) | {sec*1e3:7.1f} ms/step | {ips:7.0f} img/s | {r['tflops']:5.0f} TFLOP/s | "
                  f"MFU {r['mfu']*100:4.1f}% | {mem:5.1f} GiB")
            torch.cuda.reset_peak_memory_stats()
        del model, modes
        torch.cuda.empty_cache()
    if args.json:
        with open(args.json, "w") as f: json.dump(dict(device=dev, torch=torch.__version__, matmul_tflops=peak/1e12, rows=rows), f, indent=1)


if __name__ == "__main__": main()

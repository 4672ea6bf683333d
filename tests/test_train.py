"Reliability of the training engine: kill -9 and resume, a kill inside a checkpoint write, DDP, a crashing rank."
import os, signal, subprocess, sys, time
from pathlib import Path
import pytest
import torch
from safetensors.torch import load_file

import crate_mae
from crate_mae.train import load_checkpoint, read_metrics

ROOT = Path(crate_mae.__file__).parents[1]
# one thread per process: the cores are shared, and bit-exact comparisons need equal thread counts
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
       "OMP_NUM_THREADS": "1", "CRATE_MAE_FAULT": "",
       # precision fixed (float32): runs compared bit for bit must not depend on a timing that picks bf16 or not
       "CRATE_MAE_CPU_BF16": "0"}
CLI = [sys.executable, "-m", "crate_mae.cli"]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "crate_mae.cli"]


@pytest.fixture(scope="module")
def root(toy_root):
    "A tiny array folder: 256 random 32x32 RGB images named 'toy' (tests/conftest.py)."
    return toy_root


def args(root, out, *more):
    return ["pretrain", "--config", "crate_mae_nano", "--dataset", "toy", "--data-root", str(root), "--steps", "24",
            "--batch-size", "16", "--ckpt-every", "4", "--log-every", "1", "--threads", "1", "--no-progress",
            "--out", str(out), *more]


def run(cmd, fault="", timeout=240, **kw):
    return subprocess.run(cmd, env={**ENV, "CRATE_MAE_FAULT": fault}, capture_output=True, text=True, timeout=timeout, **kw)


def weights(out):
    return load_file(str(Path(out)/"final.safetensors"))


def assert_equal_weights(a, b):
    assert a.keys() == b.keys()
    bad = [k for k in a if not torch.equal(a[k], b[k])]
    assert not bad, f"{len(bad)} tensors differ, e.g. {bad[:3]}"


@pytest.fixture(scope="module")
def reference(root, tmp_path_factory):
    "An uninterrupted run of 24 steps."
    out = tmp_path_factory.mktemp("ref")/"run"
    r = run(CLI + args(root, out))
    assert r.returncode == 0, r.stderr
    return out


def wait_for(pred, timeout=120, proc=None):
    t = time.time()
    while time.time() - t < timeout:
        if pred(): return True
        if proc is not None and proc.poll() is not None: raise AssertionError(f"process ended early: {proc.returncode}")
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


def last_step(out):
    p = Path(out)/"metrics.jsonl"
    return read_metrics(p)[-1]["step"] if p.exists() and p.stat().st_size else 0


def test_kill9_then_resume_is_bit_exact(root, reference, tmp_path):
    out = tmp_path/"run"
    p = subprocess.Popen(CLI + args(root, out), env={**ENV, "CRATE_MAE_FAULT": "step_delay=0.15"},
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: last_step(out) >= 10, proc=p)
    os.kill(p.pid, signal.SIGKILL); p.wait()
    killed_at = last_step(out)
    assert killed_at < 24 and not (out/"final.safetensors").exists()
    ck = load_checkpoint(out/"checkpoint.pt")["position"]
    assert ck["global_step"] % 4 == 0 and ck["global_step"] <= killed_at
    r = run(CLI + ["pretrain", "--out", str(out), "--resume", "--no-progress", "--threads", "1", "--data-root", str(root)])
    assert r.returncode == 0, r.stderr
    assert_equal_weights(weights(reference), weights(out))
    # the log of the resumed run is the log of one run: records past the checkpoint were dropped
    assert [m["step"] for m in read_metrics(out/"metrics.jsonl")] == list(range(1, 25))


def test_kill_inside_a_checkpoint_write_keeps_the_previous_one(root, reference, tmp_path):
    out = tmp_path/"run"
    p = subprocess.Popen(CLI + args(root, out), env={**ENV, "CRATE_MAE_FAULT": "ckpt_pause=120@2"},
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tmp = lambda: [f for f in out.glob(".checkpoint.pt.*.tmp") if f.stat().st_size > 0] if out.exists() else []
    # the 2nd checkpoint (step 8) is half written: the 1st is in place (a temporary file seen before that is the 1st's)
    wait_for(lambda: (out/"checkpoint.pt").exists() and bool(tmp()), proc=p)
    os.kill(p.pid, signal.SIGKILL); p.wait()
    assert tmp(), "the torn temporary file should still be there"
    assert load_checkpoint(out/"checkpoint.pt")["position"]["global_step"] == 4  # the previous one, intact
    r = run(CLI + ["pretrain", "--out", str(out), "--resume", "--no-progress", "--threads", "1"])
    assert r.returncode == 0, r.stderr
    assert not tmp(), "debris of the killed write is cleaned"
    assert_equal_weights(weights(reference), weights(out))


def test_two_processes_match_one(root, tmp_path):
    common = ["--steps", "6", "--no-augment"]
    r1 = run(CLI + args(root, tmp_path/"one", *common, "--batch-size", "16"))
    assert r1.returncode == 0, r1.stderr
    r2 = run(TORCHRUN + args(root, tmp_path/"two", *common, "--batch-size", "8"), timeout=300)
    assert r2.returncode == 0, r2.stderr[-3000:]
    a, b = weights(tmp_path/"one"), weights(tmp_path/"two")
    diff = max((a[k] - b[k]).abs().max().item() for k in a)
    print(f"max |w_2proc - w_1proc| = {diff:.2e}")
    assert diff < 1e-5
    assert load_checkpoint(tmp_path/"two"/"checkpoint.pt")["position"]["world_size"] == 2
    r = run(CLI + ["pretrain", "--out", str(tmp_path/"two"), "--resume", "--steps", "6"])  # 1 process cannot continue it
    assert r.returncode == 2 and "written by 2 process(es)" in r.stderr


def test_a_crashing_rank_fails_the_job_without_hanging(root, tmp_path):
    t = time.time()
    r = run(TORCHRUN + args(root, tmp_path/"run", "--steps", "200"), fault="crash_at=3:1", timeout=180)
    assert r.returncode != 0
    assert time.time() - t < 180
    assert not (tmp_path/"run"/"final.safetensors").exists()


def test_nonfinite_loss_stops_and_keeps_last_good_checkpoint(root, tmp_path):
    out = tmp_path/"run"
    r = run(CLI + args(root, out), fault="nan_at=6")
    assert r.returncode == 3
    assert "loss is nan at step 6" in r.stderr and "--resume" in r.stderr
    assert load_checkpoint(out/"checkpoint.pt")["position"]["global_step"] == 4
    assert not (out/"final.safetensors").exists()


def test_time_budget_refits_the_schedule(root, tmp_path):
    "A budgeted run whose steps are slower than the start-up estimate refits its cosine and still finishes it."
    out = tmp_path/"budget"
    cmd = CLI + ["pretrain", "--config", "crate_mae_nano", "--dataset", "toy", "--data-root", str(root), "--time-budget", "12s",
                 "--batch-size", "16", "--log-every", "1", "--threads", "1", "--no-progress", "--out", str(out)]
    r = run(cmd, fault="step_delay=0.1")  # each step 0.1 s slower than the two passes the first estimate timed
    assert r.returncode == 0, r.stderr
    sched = load_checkpoint(out/"checkpoint.pt")["scheduler"]
    recs = read_metrics(out/"metrics.jsonl")
    assert sched["refits"] >= 1 and recs[-1]["step"] >= 0.9 * sched["total_steps"]
    assert recs[-1]["time"] <= 13
    assert recs[-1]["lr"] < 0.1 * max(m["lr"] for m in recs)  # the cosine (nearly) ran out: the budget was used
    lrs = [m["lr"] for m in recs]
    top = lrs.index(max(lrs))
    assert all(b <= a + 1e-12 for a, b in zip(lrs[top:], lrs[top + 1:])), "a refit raised the learning rate after warmup"

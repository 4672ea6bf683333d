"The `crate-mae` commands: help everywhere, and every bad input gives one line on stderr, a non-zero exit, no files."
import os, subprocess, sys
from pathlib import Path
import numpy as np
import pytest
import torch

import crate_mae
from crate_mae.cli import COMMANDS, main
from crate_mae.data import write_arrays
from crate_mae.train import CKPT_FORMAT

ROOT = Path(crate_mae.__file__).parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
       "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    "A data root with a tiny 'toy' array folder and a corrupted 'bad' one."
    r = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    write_arrays(r/"toy"/"train.npz", rng.integers(0, 256, (64, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 64))
    (r/"bad").mkdir()
    (r/"bad"/"train.npz").write_bytes(b"PK\x03\x04 this is not a zip archive")
    return r


@pytest.fixture(scope="module")
def ckpt(root, tmp_path_factory):
    "A real checkpoint of crate_mae_nano (2 steps)."
    out = tmp_path_factory.mktemp("run")/"nano"
    assert main(["pretrain", "--config", "crate_mae_nano", "--dataset", "toy", "--data-root", str(root), "--steps", "2",
                 "--batch-size", "8", "--threads", "1", "--no-progress", "--out", str(out)]) == 0
    return out/"checkpoint.pt"


def pre(root, out, *more):
    return ["pretrain", "--config", "crate_mae_nano", "--dataset", "toy", "--data-root", str(root), "--steps", "2",
            "--batch-size", "8", "--no-progress", "--out", str(out), *more]


class Evil:
    "Pickles to a call of os.mkdir: loading it without weights_only would create a folder."
    def __init__(self, path): self.path = path
    def __reduce__(self): return (os.mkdir, (self.path,))


def bad_inputs(root, ckpt, tmp):
    (tmp/"empty").mkdir(exist_ok=True)
    (tmp/"junk.pt").write_bytes(b"not a checkpoint at all")
    torch.save({"format": CKPT_FORMAT, "model": Evil(str(tmp/"pwned"))}, tmp/"evil.pt")
    torch.save({"state_dict": {"w": torch.zeros(1)}}, tmp/"other.pt")
    return {
        "missing data root": (pre(tmp/"nowhere", tmp/"o1"), "does not exist"),
        "empty data root": (pre(tmp/"empty", tmp/"o2", "--dataset", "cifar10"), "is empty"),
        "corrupted npz": (pre(root, tmp/"o3", "--dataset", "bad"), "not a readable .npz"),
        "unknown config": (pre(root, tmp/"o4", "--config", "crate_mae_huge"), "unknown model 'crate_mae_huge'"),
        "unknown dataset": (pre(root, tmp/"o5", "--dataset", "nosuch"), "unknown dataset 'nosuch'"),
        "mask ratio 1.0": (pre(root, tmp/"o6", "--mask-ratio", "1.0"), "mask ratio must be in (0, 1)"),
        "batch size 0": (pre(root, tmp/"o7", "--batch-size", "0"), "batch size must be a positive"),
        "image size not divisible": (pre(root, tmp/"o8", "--img-size", "30"), "must be divisible by patch_size"),
        "unwritable output": (pre(root, "/proc/crate_mae_test/run"), "not writable"),
        "output under a file": (pre(root, tmp/"junk.pt"/"run"), "is a file"),
        "checkpoint of another config": (pre(root, tmp/"o9", "--config", "crate_mae_cifar", "--resume", str(ckpt)),
                                         "from another config"),
        "not a checkpoint": (pre(root, tmp/"o10", "--resume", str(tmp/"junk.pt")), "is not a crate_mae training checkpoint"),
        "torch file, not ours": (pre(root, tmp/"o11", "--resume", str(tmp/"other.pt")), "is not a crate_mae training checkpoint"),
        "pickled code": (pre(root, tmp/"o12", "--resume", str(tmp/"evil.pt")), "contains pickled Python objects"),
        "nothing to resume": (pre(root, tmp/"o13", "--resume"), "nothing to resume"),
        "changed batch on resume": (pre(root, tmp/"o14", "--resume", str(ckpt), "--batch-size", "4"), "cannot change --batch-size"),
        "zero time budget": (pre(root, tmp/"o15", "--time-budget", "0"), "duration must be positive"),
        "negative lr": (pre(root, tmp/"o16", "--lr", "-1"), "lr must be positive"),
        "prepare unknown": (["prepare", "mystery", "--src", str(tmp/"empty"), "--data-root", str(tmp/"o17")], "do not know how"),
        "demo minutes 0": (["demo", "--minutes", "0", "--out", str(tmp/"o18")], "--minutes must be positive"),
    }


def test_bad_inputs_fail_cleanly(root, ckpt, tmp_path, capsys):
    capsys.readouterr()
    for name, (argv, msg) in bad_inputs(root, ckpt, tmp_path).items():
        rc = main(argv)
        err = capsys.readouterr().err.strip()
        assert rc == 2, f"{name}: exit status {rc}, stderr {err!r}"
        assert msg in err, f"{name}: {msg!r} not in {err!r}"
        assert "\n" not in err, f"{name}: more than one line on stderr: {err!r}"
        out = Path(argv[argv.index("--out") + 1]) if "--out" in argv else None
        if out is not None and name != "output under a file": assert not out.exists(), f"{name}: created {out}"
    assert not (tmp_path/"pwned").exists(), "the pickled code ran"
    assert not (tmp_path/"o17").exists()


def test_bad_input_through_the_console_script(root, tmp_path):
    r = subprocess.run([sys.executable, "-m", "crate_mae.cli", *pre(root, tmp_path/"out", "--mask-ratio", "1.0")],
                       capture_output=True, text=True, env=ENV, timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "mask ratio" in r.stderr
    assert not (tmp_path/"out").exists()


def test_demo_without_data_names_the_remedies(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("CRATE_MAE_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path/"cache"))
    rc = main(["demo", "--out", str(tmp_path/"demo")])
    err = capsys.readouterr().err
    assert rc == 2
    for remedy in ("CRATE_MAE_DATA", "--data-root", "--download", "--dataset digits"): assert remedy in err
    assert not (tmp_path/"demo").exists()


def test_help_on_every_command(capsys):
    for name in COMMANDS:
        with pytest.raises(SystemExit) as e: main([name, "--help"])
        assert e.value.code == 0
        assert "usage: crate-mae " + name in capsys.readouterr().out


def test_demo_runs_offline_on_digits(tmp_path, monkeypatch):
    monkeypatch.delenv("CRATE_MAE_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path/"cache"))
    out = tmp_path/"demo"
    assert main(["demo", "--dataset", "digits", "--config", "crate_mae_nano", "--minutes", "0.1", "--probe-train", "300",
                 "--threads", "1", "--no-progress", "--out", str(out)]) == 0
    for f in ("report.md", "curves.png", "reconstructions.png", "final.safetensors", "metrics.jsonl"): assert (out/f).exists(), f
    assert "linear probe" in (out/"report.md").read_text()

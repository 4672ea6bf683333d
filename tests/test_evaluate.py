"""Tests for crate_mae.evaluate: probes (both protocols), caching, pixel baseline, reconstruction loss,
fine-tuning with resume, the Table 5/6 sweeps at a tiny budget, and the CLI entry functions.

Everything runs on the bundled digits with a nano model resized to 8x8 inputs, so the file takes seconds.
"""
import argparse, json, os
from pathlib import Path

import numpy as np
import pytest
import torch

from crate_mae import cli as C
from crate_mae import evaluate as E
from crate_mae import train as T
from crate_mae.data import load_dataset
from crate_mae.model import create_model, save_weights

NANO8 = dict(img_size=8, patch_size=2, in_chans=1)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", "train"), load_dataset("digits", "test")


@pytest.fixture(scope="module")
def small(digits):
    tr, te = digits
    return E.subset_dataset(tr, E.subset_indices(len(tr), 200)), E.subset_dataset(te, np.arange(80))


def nano(seed=0):
    torch.manual_seed(seed)
    return create_model("crate_mae_nano", **NANO8).eval()


def test_subsets(digits):
    tr, _ = digits
    idx = E.subset_indices(len(tr), 50, seed=3)
    assert len(idx) == 50 and (np.diff(idx) > 0).all()
    assert (idx == E.subset_indices(len(tr), 50, seed=3)).all()
    assert (E.subset_indices(7) == np.arange(7)).all()
    with pytest.raises(ValueError, match="positive"): E.subset_indices(7, -1)
    sub = E.subset_dataset(tr, idx)
    assert torch.equal(sub.images, tr.images[idx]) and sub.mean == tr.mean and sub.name == "digits"


def test_features_match_model_features(small):
    tr, _ = small
    m = nano()
    f, y = E.extract_features(m, tr, batch_size=64, progress=False)
    assert f["cls"].shape == (200, 64) and f["mean"].shape == (200, 64) and (y == tr.labels.numpy()).all()
    x = E.eval_loader(m, tr, 64).batch(0)[0]
    with torch.no_grad():
        assert np.allclose(f["cls"][:64], m.features(x, "cls").numpy(), atol=1e-5)
        assert np.allclose(f["mean"][:64], m.features(x, "mean").numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="feature kinds"): E.extract_features(m, tr, "patch")


def test_feature_cache(small, tmp_path):
    tr, _ = small
    m = nano()
    idx = np.arange(0, 200, 2)
    f1, y1 = E.cached_features(m, tr, idx=idx, cache=tmp_path, progress=False)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 2 and all(E.state_hash(m)[:20] in n for n in files)
    # a cache hit returns the stored arrays even if extraction would now differ
    np.savez(tmp_path/files[0], X=np.zeros_like(f1["cls"]), y=y1)
    f2, _ = E.cached_features(m, tr, "cls", idx=idx, cache=tmp_path, progress=False)
    assert (f2["cls"] == 0).all()
    f3, _ = E.cached_features(m, tr, "cls", idx=idx, cache=tmp_path, use_cache=False, progress=False)
    assert np.allclose(f3["cls"], f1["cls"])
    assert E.feature_key("ab" * 20, "d", "train", "cls", idx, 8) != E.feature_key("ab" * 20, "d", "train", "cls", idx[:-1], 8)
    assert E.feature_cache_dir(tmp_path) == tmp_path
    (tmp_path/"f").write_bytes(b"x")
    assert len(E.file_hash(tmp_path/"f")) == 64


def test_linear_probe_protocols():
    rng = np.random.default_rng(0)
    mus = 4 * rng.standard_normal((5, 10))
    ya, yb = rng.integers(0, 5, 400), rng.integers(0, 5, 200)
    Xa, Xb = mus[ya] + rng.standard_normal((400, 10)), mus[yb] + rng.standard_normal((200, 10))
    r = E.linear_probe(Xa, ya, Xb, yb, Cs=(100, 1), max_iter=50)
    assert r.Cs == [1., 100.] and len(r.test_acc) == len(r.val_acc) == 2
    assert r.paper_acc >= r.honest_acc > 0.95
    assert r.paper_acc == max(r.test_acc) and r.honest_acc == r.test_acc[int(np.argmax(r.val_acc))]
    assert "paper" in r.summary() and "honest" in r.summary()
    for kw, msg in [(dict(Cs=()), "non-empty"), (dict(val_frac=0), "val_frac")]:
        with pytest.raises(ValueError, match=msg): E.linear_probe(Xa, ya, Xb, yb, **kw)
    with pytest.raises(ValueError, match="differ in dimension"): E.linear_probe(Xa, ya, Xb[:, :3], yb)
    with pytest.raises(ValueError, match="NaN"): E.linear_probe(Xa * np.nan, ya, Xb, yb)


def test_pixel_probe(digits):
    tr, te = digits
    X, y = E.pixel_features(tr, [0, 1])
    assert X.shape == (2, 64) and X.dtype == np.float32 and 0 <= X.min() and X.max() <= 1
    r = E.pixel_probe(tr, te, train_limit=400, Cs=(1.,), max_iter=50, progress=False)
    assert r.paper_acc > 0.85 and r.n_train == 400 and r.n_test == 360


def test_probe_and_load_model(small, tmp_path):
    tr, te = small
    m = nano()
    save_weights(m, tmp_path/"w.safetensors")
    m2, key = E.load_model(tmp_path/"w.safetensors")
    assert key == E.file_hash(tmp_path/"w.safetensors") and E.state_hash(m2) == E.state_hash(m)
    res = E.probe(m2, tr, te, Cs=(1.,), max_iter=30, model_key=key, cache=tmp_path/"c", progress=False)
    assert set(res) == {"cls", "mean"} and all(0 <= r.honest_acc <= r.paper_acc <= 1 for r in res.values())
    with pytest.raises(ValueError, match="not the requested"): E.load_model(tmp_path/"w.safetensors", "crate_mae_base")
    with pytest.raises(ValueError, match="--model"): E.load_model()
    with pytest.raises(FileNotFoundError): E.load_model(tmp_path/"missing.pt")
    r0, k0 = E.load_model(model="crate_mae_nano", seed=1)
    assert k0 == E.state_hash(r0) and r0.name == "crate_mae_nano"


def test_reconstruction_loss_fixed_masks(small):
    _, te = small
    m = nano()
    assert torch.equal(E.masking_noise([3, 1100], 16), torch.cat([E.masking_noise([3], 16), E.masking_noise([1100], 16)]))
    a = E.reconstruction_loss(m, te, progress=False)
    assert a == pytest.approx(E.reconstruction_loss(m, te, batch_size=13, progress=False), rel=1e-5)
    assert a != E.reconstruction_loss(m, te, seed=1, progress=False)
    # by hand: the model's loss with the same noise, one batch
    x = E.eval_loader(m, te, 80).batch(0)[0]
    with torch.no_grad(): ref = m(x, 0.75, noise=E.masking_noise(np.arange(80), m.num_patches))[0].item()
    assert a == pytest.approx(ref, rel=1e-5)
    with pytest.raises(ValueError, match="mask_ratio"): E.reconstruction_loss(m, te, mask_ratio=0)


def test_finetune_resume_is_exact(small, tmp_path):
    tr, te = small
    kw = dict(steps=6, batch_size=32, lr=1e-3, progress=False)
    a = E.finetune(nano(), tr, te, out=tmp_path/"a", **kw)
    E.finetune(nano(), tr, None, out=tmp_path/"b", until=3, **kw)
    b = E.finetune(nano(), tr, te, out=tmp_path/"b", resume=True, **kw)
    assert a["steps"] == b["steps"] == 6 and a["test_acc"] == b["test_acc"]
    for (k, p), (_, q) in zip(a["classifier"].state_dict().items(), b["classifier"].state_dict().items()):
        assert torch.equal(p, q), k
    ck = T.load_checkpoint(tmp_path/"a"/"checkpoint.pt")
    assert ck["task"] == "finetune" and ck["position"]["global_step"] == 6
    enc, _ = E.load_model(tmp_path/"a"/"checkpoint.pt")
    assert torch.equal(enc.norm.weight, a["classifier"].mae.norm.weight.detach())
    logits = a["classifier"](E.eval_loader(a["classifier"], te, 4).batch(0)[0])
    assert logits.shape == (4, 10)
    assert 0 <= E.accuracy(a["classifier"], te) <= 1
    with pytest.raises(ValueError, match="already holds a run"): E.finetune(nano(), tr, out=tmp_path/"a", **kw)
    with pytest.raises(ValueError, match="num_classes"): E.Classifier(nano(), 1)
    with pytest.raises(ValueError, match="crop_scale"): E.finetune(nano(), tr, crop_scale=(0.5, 0.2), **kw)


def test_sweeps_tiny(small, tmp_path):
    tr, te = small
    kw = dict(model="crate_mae_nano", model_kwargs=NANO8, dataset="digits", train_ds=tr, test_ds=te, steps=1,
              batch_size=32, train_limit=None, probe_kw=dict(Cs=(1.,), max_iter=20, cache=tmp_path/"c"), progress=False)
    r5 = E.sweep_mask_ratio((0.25, 0.9), out=tmp_path/"t5", **kw)
    assert [r["mask_ratio"] for r in r5] == [0.25, 0.9] and r5[0]["overrides"]["lam"] == 5.0
    assert all(np.isfinite(r["recon_test"]) and 0 <= r["cls_honest"] <= 1 for r in r5)
    r6 = E.sweep_lambda((0.1,), out=tmp_path/"t6", **kw)
    assert E.load_model(tmp_path/"t6"/"lam0.1"/"final.safetensors")[0].config["lam"] == 0.1
    again = E.pretrain_and_probe(overrides={**NANO8, "lam": 0.1}, out=tmp_path/"t6"/"lam0.1", **{k: v for k, v in kw.items() if k != "model_kwargs"})
    assert again["cls_paper"] == r6[0]["cls_paper"]   # the finished run is reused, features come from the cache
    with pytest.raises(ValueError, match=r"\(0, 1\)"): E.sweep_mask_ratio((1.0,))
    with pytest.raises(ValueError, match=">= 0"): E.sweep_lambda((-0.5,))


def _cli(add, main, argv):
    return main(add(argparse.ArgumentParser()).parse_args(argv))


def test_cli_entry_functions(tmp_path, capsys):
    m = nano()
    save_weights(m, tmp_path/"w.safetensors")
    w = str(tmp_path/"w.safetensors")
    assert _cli(C.add_probe_args, C.probe_main, ["--checkpoint", w, "--dataset", "digits", "--train-limit", "200",
                "--test-limit", "100", "--Cs", "1", "--max-iter", "20", "--cache-dir", str(tmp_path/"c"), "--no-progress",
                "--json", str(tmp_path/"p.json")]) == 0
    out = capsys.readouterr().out.strip().splitlines()[-1]
    assert out.startswith("probe ") and "cls: paper" in out and "honest" in out and "(200 train / 100 test)" in out
    assert set(json.loads((tmp_path/"p.json").read_text())) == {"cls", "mean"}
    assert E.PIXEL_C_GRID[0] < 1 <= E.C_GRID[0]
    assert _cli(C.add_probe_args, C.probe_main, ["--pixels", "--dataset", "digits", "--train-limit", "200", "--Cs", "1",
                "--max-iter", "20", "--no-progress"]) == 0
    assert "raw pixels" in capsys.readouterr().out
    assert _cli(C.add_reconstruct_args, C.reconstruct_main, ["--checkpoint", w, "--dataset", "digits", "--limit", "50",
                "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "reconstruct" in out and "train" in out and "test" in out and "mask 0.75" in out
    assert _cli(C.add_finetune_args, C.finetune_main, ["--checkpoint", w, "--dataset", "digits", "--train-limit", "64",
                "--test-limit", "50", "--steps", "2", "--batch-size", "32", "--crop-scale", "1", "--hflip", "0",
                "--out", str(tmp_path/"ft"), "--no-progress"]) == 0
    assert "test acc" in capsys.readouterr().out and (tmp_path/"ft"/"checkpoint.pt").exists()
    for add, main, argv, msg in [
            (C.add_probe_args, C.probe_main, ["--dataset", "digits", "--Cs", "a"], "comma-separated"),
            (C.add_probe_args, C.probe_main, ["--dataset", "digits"], "--model"),
            (C.add_reconstruct_args, C.reconstruct_main, ["--model", "crate_mae_nano", "--splits", "val"], "--splits"),
            (C.add_reconstruct_args, C.reconstruct_main, ["--model", "crate_mae_nano", "--mask-ratio", "1"], "--mask-ratio"),
            (C.add_finetune_args, C.finetune_main, ["--model", "crate_mae_nano", "--batch-size", "0"], "--batch-size")]:
        with pytest.raises(ValueError, match=msg): _cli(add, main, argv)

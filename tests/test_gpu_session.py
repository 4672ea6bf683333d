"""The prepared GPU session (chapter 14, `crate_mae.gpu`) at tiny size on the CPU: the training set's pack and
unpack, the whole session end to end, a part stopped at the deadline, a session killed between parts, and the
CPU evaluation of what came back. Nothing here needs a GPU."""
import json, os, signal, subprocess, sys, time
from dataclasses import replace
from pathlib import Path
import numpy as np
import pytest
import torch

import crate_mae
from crate_mae.data import read_arrays, write_arrays
from crate_mae.gpu import (PARTS, PLANS, bundle_weights, evaluate_session, main, pack_images, read_packed, roundtrip_error,
                           session, sweep_runs, unbundle_weights, unpack_images)
from crate_mae.model import create_model, load_weights

ROOT = Path(crate_mae.__file__).parents[1]
TINY = replace(PLANS["tiny"], dataset="toy")
OUT_FILES = ["model/config.json", "model/final.safetensors", "model/metrics.jsonl", "session.json", "session.log",
             "sweep/runs.jsonl", "sweep/weights_1.safetensors", "sweep/weights_2.safetensors"]


def files(out):
    return sorted(str(p.relative_to(out)) for p in Path(out).rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    "A lossless array folder 'toy' (160 train, 48 test images, 32x32 RGB) and its training split packed as WebP q90."
    r = tmp_path_factory.mktemp("gpu")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (160, 32, 32, 3), dtype=np.uint8)
    x[:, 8:24, 8:24] //= 3
    write_arrays(r/"src"/"toy"/"train.npz", x, rng.integers(0, 10, 160))
    write_arrays(r/"src"/"toy"/"test.npz", x[:48], rng.integers(0, 10, 48))
    (r/"src"/"toy"/"classes.txt").write_text("".join(f"c{i}\n" for i in range(10)))
    return r, pack_images(r/"src"/"toy"/"train.npz", r/"toy.webp90.npz")


@pytest.fixture(scope="module")
def finished(data, tmp_path_factory):
    "A whole tiny session, from the packed file."
    r, _ = data
    base = tmp_path_factory.mktemp("session")
    return base/"out", session(base/"out", TINY, packed=r/"toy.webp90.npz", work=base/"work")


def test_pack_unpack(data, tmp_path):
    r, meta = data
    x0, y0 = read_arrays(r/"src"/"toy"/"train.npz")
    p = unpack_images(r/"toy.webp90.npz", tmp_path/"dev")
    assert p == tmp_path/"dev"/"toy"/"train.npz"
    x, y = read_arrays(p)
    assert x.shape == x0.shape and (y == y0).all()
    assert roundtrip_error(x0, x) == meta["roundtrip"]          # unpacking gives what packing measured
    assert (p.parent/"classes.txt").read_text().split() == [f"c{i}" for i in range(10)]
    assert json.loads((p.parent/"train.packed.json").read_text())["codec"] == "webp"
    assert meta["bytes"] == (r/"toy.webp90.npz").stat().st_size and meta["shape"] == [160, 32, 32, 3]
    q = pack_images(r/"src"/"toy"/"train.npz", tmp_path/"q100.npz", codec="jpeg", quality=100)
    assert q["roundtrip"]["rmse"] < meta["roundtrip"]["rmse"]  # a higher quality is closer to the originals
    with pytest.raises(ValueError, match="codec must be"): pack_images(r/"src"/"toy"/"train.npz", tmp_path/"a.npz", codec="png")
    with pytest.raises(ValueError, match="quality"): pack_images(r/"src"/"toy"/"train.npz", tmp_path/"a.npz", quality=0)
    with pytest.raises(FileNotFoundError): read_packed(tmp_path/"missing.npz")
    (tmp_path/"cut.npz").write_bytes((r/"toy.webp90.npz").read_bytes()[:5000])
    with pytest.raises(ValueError, match="not a file written by pack_images"): unpack_images(tmp_path/"cut.npz", tmp_path/"dev2")


def test_bundle(tmp_path):
    ms = {"a": create_model("crate_mae_nano", lam=0.1), "b": create_model("crate_mae_nano", lam=5.0)}
    back = unbundle_weights(bundle_weights(ms, tmp_path/"w.safetensors"), tmp_path/"split")
    assert set(back) == {"a", "b"}
    for k, p in back.items():
        m = load_weights(p)
        assert m.config == ms[k].config and m.config["lam"] == ms[k].config["lam"]
        for v, v2 in zip(ms[k].state_dict().values(), m.state_dict().values()):
            assert v2.dtype == v.dtype and torch.equal(v2, v.half().float())
    with pytest.raises(ValueError, match="no models"): bundle_weights({}, tmp_path/"x.safetensors")


def test_session_end_to_end(finished):
    out, S = finished
    assert {p: S["parts"][p]["status"] for p in PARTS} == dict(model="done", sweep="done", mfu="done: 1 of 1 variants measured")
    assert files(out) == OUT_FILES                            # the 8 files the device returns
    assert json.loads((out/"session.json").read_text())["parts"]["model"]["status"] == "done"
    m = S["parts"]["model"]["result"]
    assert m["steps"] > 0 and m["images"] == m["steps"] * TINY.batch_size and S["unpack"]["to"].endswith("toy/train.npz")
    assert load_weights(out/"model"/"final.safetensors").name == "crate_mae_nano"
    runs = [json.loads(l) for l in (out/"sweep"/"runs.jsonl").read_text().splitlines()]
    assert [r["name"] for r in runs] == [r["name"] for r in sweep_runs()]
    assert len({r["steps"] for r in runs}) == 1 and runs[0]["metrics"]   # equal training for every row of the tables
    assert {r["lam"] for r in runs} == {0.1, 0.5, 5.0} and {r["mask_ratio"] for r in runs} == {0.25, 0.5, 0.75, 0.9}
    row = S["parts"]["mfu"]["rows"][0]
    assert row["name"] == "eager_b4" and row["img_per_s"] > 0 and row["compile"] is False


def test_evaluate(finished, data):
    out, _ = finished
    r, _ = data
    E = evaluate_session(out, data_root=r/"src", train_limit=80, test_limit=48, use_cache=False, Cs=(1.,), max_iter=50)
    M = E["results"]["models"]
    assert set(M) == {"model"} | {r["name"] for r in sweep_runs()}
    assert set(M["model"]["probe"]) == {"cls", "mean", "cls@1", "mean@1", "cls@2", "mean@2"}
    assert set(M["mask0.25_lam0.5"]["recon_test"]) == {"0.75", "0.25"}
    rep = (out/"eval"/"report.md").read_text()
    assert rep == E["report"] and "## Table 5" in rep and "| 0.25 |" in rep and "69.78" in rep and "83.33" in rep
    t0 = time.time()                                           # every model is done: a second call only reports
    assert evaluate_session(out, data_root=r/"src", train_limit=80, test_limit=48, use_cache=False, Cs=(1.,), max_iter=50)["results"] == E["results"]
    assert time.time() - t0 < 5


def test_deadline_stops_a_hung_part(data, tmp_path, monkeypatch):
    "A part that runs past the deadline is stopped; the session still writes its record, and nothing starts after."
    r, _ = data
    monkeypatch.setenv("CRATE_MAE_SESSION_FAULT", "hang_after_run:0")
    t0 = time.time()
    S = session(tmp_path/"out", replace(TINY, deadline=6.), packed=r/"toy.webp90.npz", parts=("sweep", "mfu"), work=tmp_path/"work")
    assert time.time() - t0 < 30
    assert S["parts"]["sweep"]["status"].startswith("stopped") and S["parts"]["model"]["status"] == "not asked"
    assert S["parts"]["mfu"]["skipped"] == ["eager_b4"] and not S["parts"]["mfu"]["rows"]
    assert json.loads((tmp_path/"out"/"session.json").read_text())["parts"]["sweep"]["status"].startswith("stopped")


def test_salvage_from_checkpoint(data, tmp_path):
    "A part 1 stopped before its end: its weights are saved from the engine's last checkpoint."
    from crate_mae.gpu import _Log, _salvage_model
    from crate_mae.train import TrainConfig, load_checkpoint, train
    r, _ = data
    train(TrainConfig(model="crate_mae_nano", dataset="toy", data_root=str(r/"src"), steps=3, batch_size=16, amp="none",
                      out=str(tmp_path/"work"/"model0"), progress=False, threads=1, ckpt_every=2))
    (tmp_path/"out").mkdir()
    got = _salvage_model(tmp_path/"work", tmp_path/"out", _Log(tmp_path/"out", time.time()))
    assert got["step"] == 3 and files(tmp_path/"out") == ["model/config.json", "model/final.safetensors", "model/metrics.jsonl", "session.log"]
    ck = load_checkpoint(tmp_path/"work"/"model0"/"checkpoint.pt")["model"]
    m = load_weights(tmp_path/"out"/"model"/"final.safetensors")
    assert all(torch.equal(v, ck[k]) for k, v in m.state_dict().items())
    assert _salvage_model(tmp_path/"nothing", tmp_path/"out", _Log(tmp_path/"out", time.time())) is None


def _kill_matching(text):
    "Kill the processes this test started whose command line holds `text` (the cut-off leaves its hung child)."
    for d in Path("/proc").iterdir():
        if not d.name.isdigit(): continue
        try: cmd = (d/"cmdline").read_bytes().decode(errors="replace")
        except OSError: continue
        if text in cmd:
            try: os.kill(int(d.name), signal.SIGKILL)
            except ProcessLookupError: pass


def test_cut_off_keeps_earlier_parts(data, tmp_path):
    "The whole command killed during the sweep (as the device tool does at its limit): the parts before stay, and evaluate takes them."
    r, _ = data
    out, work = tmp_path/"out", tmp_path/"work"
    env = {**os.environ, "CRATE_MAE_SESSION_FAULT": "hang_after_run:1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    cmd = [sys.executable, "-m", "crate_mae.gpu", "session", "--plan", "tiny", "--set", "dataset=toy", "--set", "model_seconds=0.5",
           "--packed", str(r/"toy.webp90.npz"), "--out", str(out), "--work", str(work)]
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, process_group=0)
    try:
        t0 = time.time()
        while not ((out/"sweep"/"runs.jsonl").is_file() and (out/"sweep"/"weights_1.safetensors").is_file()):
            assert p.poll() is None and time.time() - t0 < 120, "the session ended or took too long before its first sweep run"
            time.sleep(0.2)
        time.sleep(0.5)
        os.killpg(p.pid, signal.SIGKILL); p.wait()
    finally:
        if p.poll() is None: os.killpg(p.pid, signal.SIGKILL); p.wait()
        _kill_matching(str(work))
    assert files(out) == ["model/config.json", "model/final.safetensors", "model/metrics.jsonl", "session.json", "session.log",
                          "sweep/runs.jsonl", "sweep/weights_1.safetensors"]
    S = json.loads((out/"session.json").read_text())
    assert S["parts"]["model"]["status"] == "done" and S["parts"]["sweep"]["status"] == "running"
    assert len((out/"sweep"/"runs.jsonl").read_text().splitlines()) == 1
    E = evaluate_session(out, data_root=r/"src", layers=None, train_limit=80, test_limit=48, use_cache=False, Cs=(1.,), max_iter=50)
    assert set(E["results"]["models"]) == {"model", "mask0.75_lam0.5"}
    assert "| 0.75 |" in E["report"] and "No runs came back" not in E["report"].split("## Table 5")[1].split("## Table 6")[0]


def test_cli_errors(tmp_path, capsys):
    assert main(["session", "--out", str(tmp_path), "--plan", "tiny", "--set", "batch_size=0"]) == 2
    assert main(["session", "--out", str(tmp_path), "--plan", "huge"]) == 2
    assert main(["session", "--out", str(tmp_path), "--plan", "tiny"]) == 2      # no data given
    assert main(["evaluate", str(tmp_path/"nothing")]) == 2
    assert "error:" in capsys.readouterr().err

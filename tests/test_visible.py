"""Chapter 15's ablation script, run at tiny size: every step works with the package's commands, reruns skip, and the
chapter's reading functions take what it wrote."""
import os, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT/"nbs"/"visible"/"run_ablation.sh"
NANO = {"paper": ("crate_mae_nano", "paper's form", "-"), "visible": ("visible_crate_mae_nano", "visible-only", "-"),
        "mae": ("vit_mae_nano", "ViT-MAE", "-")}


def run(what, env):
    r = subprocess.run(["bash", str(SCRIPT), what], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, f"run_ablation.sh {what}:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


def test_names_and_layers():
    from crate_mae.model import create_model, list_models
    assert {"visible_crate_mae_nano", "visible_crate_mae_cifar", "visible_crate_mae_base", "light_vit_mae_cifar"} <= set(list_models())
    assert "visible_crate_mae_cifar" not in list_models("crate_mae_*")    # the paper's names stay the paper's
    m = create_model("light_vit_mae_cifar")
    assert (m.decoder_d, m.decoder_depth, m.decoder_K) == (128, 2, 4)
    assert create_model("vit_mae_cifar", decoder_d=128, decoder_depth=2, decoder_K=4).config == m.config


def test_run_ablation_tiny(tmp_path):
    env = {**os.environ, "BUDGET": "2s", "BUDGET_MODE": "wall", "REUSE_STUDY": "0", "CACHE": str(tmp_path/"rates.json"),
           "DATASET": "digits", "BATCH": "32", "TRAIN_FLAGS": "--amp none", "LOG_EVERY": "1",
           "PAPER": "crate_mae_nano", "VISIBLE": "visible_crate_mae_nano", "MAE": "vit_mae_nano",
           "PROBE_TRAIN": "200", "PROBE_TEST": "100", "PROBE_FLAGS": "--Cs 1,10 --max-iter 50 --no-cache --amp none",
           "RANDOM_INIT": "1", "RECON_LIMIT": "64", "STATS_N": "16",
           "RUNS": str(tmp_path/"runs"), "OUT": str(tmp_path/"out"), "PY": sys.executable, "CLI": f"{sys.executable} -m crate_mae.cli"}
    for what in ("pretrain", "probe", "reconstruct", "stats"): run(what, env)
    out = tmp_path/"out"
    stems = {p.name for p in out.iterdir()}
    want = {f"{s}_{k}.{e}" for k in NANO for s, e in (("metrics", "jsonl"), ("config", "json"), ("probe", "json"), ("recon", "json"))}
    assert want | {"probe_random.json", "layer_stats.json"} <= stems, stems
    again = run("pretrain", env)                                   # everything exists: no training
    assert "pretrain crate_mae_nano on" not in again.stdout
    bad = subprocess.run(["bash", str(SCRIPT), "nonsense"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and "usage" in bad.stderr
    from crate_mae.visible import load_ablation, ablation_table
    res = load_ablation(out)
    tab = ablation_table(res, NANO).splitlines()
    assert len(tab) == 2 + 3
    for row in tab[2:]:                                            # images seen, probes, best layer, MSE: all recorded
        assert "–" not in [c.strip() for c in row.split("|")[6:-1]], row
    assert sorted(res["layer_stats"]["mask0"]) == ["init", "paper", "visible"]

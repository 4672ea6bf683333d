"""A damaged checkpoint must not cost the run.

A run that checkpoints every step is killed (SIGKILL) at a random moment, after its second
checkpoint; then its latest checkpoint file is damaged in one of three ways (cut short,
zero-filled, one flipped byte) or left as the kill left it. The resumed run must end bit-identical
to an uninterrupted one, its metrics must equal the uninterrupted run's record for record, and it
must say which checkpoint it continued from (and, when it fell back, name the damaged file, which
is kept aside).

The runs are forked from this process (no interpreter start-up per run, so that many trials fit in
CI's time), each with one thread and float32 (`amp="none"`), so that they can be compared bit for
bit.
"""
import multiprocessing as mp
import os, random, signal, sys, time
from pathlib import Path
import pytest
import torch
from safetensors.torch import load_file

from crate_mae.data import load_dataset
from crate_mae.train import TrainConfig, load_checkpoint, previous_path, read_metrics, train

STEPS = 12
TRIALS = 24  # 6 for each kind of damage, "none" included
DAMAGES = ("none", "truncated", "zero-filled", "flipped byte")
ctx = mp.get_context("fork")


@pytest.fixture(scope="module")
def toy(toy_root):
    "The toy images of tests/conftest.py, as an in-memory dataset."
    return load_dataset("toy", "train", str(toy_root))


def config(out):
    return TrainConfig(model="crate_mae_nano", dataset="toy", steps=STEPS, batch_size=16, ckpt_every=1, log_every=1,
                       amp="none", threads=1, progress=False, out=str(out))


def _child(out, resume, ds, log):
    "A training process: its stderr goes to `log`; exit status 0 when the run ends."
    sys.stderr = open(log, "w", buffering=1)
    os.environ["CRATE_MAE_FAULT"] = ""
    try:
        train(config(out), resume=resume, dataset=ds); code = 0
    except BaseException as e:
        print(f"{type(e).__name__}: {e}", file=sys.stderr); code = 1
    sys.stderr.flush()
    os._exit(code)


def start(out, ds, resume=None):
    log = Path(out).with_name(Path(out).name + (".resume.log" if resume else ".log"))
    p = ctx.Process(target=_child, args=(out, resume, ds, log)); p.start()
    return p, log


def finish(p, log, timeout=120):
    p.join(timeout)
    if p.is_alive(): os.kill(p.pid, signal.SIGKILL); p.join(); raise AssertionError(f"timed out: {log.read_text()}")
    return p.exitcode, log.read_text()


def damage(path, how, rng):
    "Damage a file in place, as a disk or a cut copy would."
    data = bytearray(path.read_bytes())
    if how == "truncated": data = data[:rng.randrange(1, len(data))]
    elif how == "zero-filled": data = bytearray(len(data))
    elif how == "flipped byte": data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    path.write_bytes(bytes(data))
    return bytes(data)


def step_of(path):
    "The step of an intact checkpoint file, None if it is missing or unusable."
    try: return load_checkpoint(path, fallback=False)["position"]["global_step"]
    except Exception: return None


@pytest.fixture(scope="module")
def reference(toy, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref")/"run"
    t0 = time.time()
    code, err = finish(*start(out, toy))
    assert code == 0, err
    return load_file(str(out/"final.safetensors")), read_metrics(out/"metrics.jsonl"), time.time() - t0


def test_kill9_and_a_damaged_latest_checkpoint_resume_bit_exactly(toy, reference, tmp_path):
    ref_w, ref_m, seconds = reference
    rng = random.Random(int(os.environ.get("CRATE_MAE_TEST_SEED", "0")))
    seen = {"fell back": 0, "latest missing": 0, "latest used": 0}
    for trial in range(TRIALS):
        how, out = DAMAGES[trial % len(DAMAGES)], tmp_path/f"t{trial}"
        latest, prev = out/"checkpoint.pt", previous_path(out/"checkpoint.pt")
        p, log = start(out, toy)
        t0 = time.time()
        while not prev.exists():  # two checkpoints at least: something to fall back to
            assert p.is_alive() and time.time() - t0 < 60, f"trial {trial}: the run ended early: {log.read_text()}"
            time.sleep(0.002)
        time.sleep(rng.uniform(0, 0.8 * seconds))  # a random moment of the rest of the run (or just after its end)
        os.kill(p.pid, signal.SIGKILL); p.join()
        (out/"final.safetensors").unlink(missing_ok=True)  # a run that finished before the kill: write them again
        s_latest, s_prev = step_of(latest), step_of(prev)
        assert s_prev is not None, f"trial {trial}: the kill damaged the previous checkpoint"
        assert latest.exists() == (s_latest is not None), f"trial {trial}: the kill left a damaged latest checkpoint"
        damaged = damage(latest, how, rng) if latest.exists() and how != "none" else None
        code, err = finish(*start(out, toy, resume=True))
        assert code == 0, f"trial {trial} ({how}): {err}"
        # it says which checkpoint it continued from
        if s_latest is not None and damaged is None:
            expected, kind = s_latest, "latest used"
            assert "warning" not in err, err
        else:
            expected, kind = s_prev, "fell back" if damaged is not None else "latest missing"
            warning = [l for l in err.splitlines() if l.startswith("warning: ")]
            assert len(warning) == 1, err
            assert str(latest) in warning[0] and f"{prev.name} (step {expected}) takes its place" in warning[0], warning
            if damaged is not None:
                assert "is damaged" in warning[0], warning
                aside = list(out.glob("checkpoint.pt.damaged-*"))  # kept aside, not deleted
                assert len(aside) == 1 and aside[0].read_bytes() == damaged and aside[0].name in warning[0]
            else:
                assert "is missing" in warning[0], warning
        seen[kind] += 1
        assert f"resuming at step {expected} from " in err, err
        # ...and continues bit-exactly from it
        w = load_file(str(out/"final.safetensors"))
        bad = [k for k in ref_w if not torch.equal(ref_w[k], w[k])]
        assert not bad, f"trial {trial} ({how}, from step {expected}): {len(bad)} tensors differ, e.g. {bad[:3]}"
        m = read_metrics(out/"metrics.jsonl")
        assert [r["step"] for r in m] == list(range(1, STEPS + 1)), f"trial {trial}: {[r['step'] for r in m]}"
        assert [r["loss"] for r in m] == [r["loss"] for r in ref_m], f"trial {trial}: the losses differ"
    print(seen)
    assert seen["fell back"] >= 3 * (TRIALS // len(DAMAGES)) - 2, seen  # the damage cases mostly hit a file to damage

#!/usr/bin/env python
"""Execute chapter notebooks in place, keeping the recorded outputs of cells that must not run here.

Cells marked `#| eval: false` or `#| gpu` (and `#| slow` with --skip-slow) are left as they are, with
their stored outputs; every other code cell is run in order, in the notebook's folder, and its outputs
replaced. This is how the chapters' outputs (the docs) are refreshed; `jupyter nbconvert --execute`
would run the GPU and days-long cells too.

    python tools/run_nb.py nbs/12_study.ipynb nbs/14_gpu.ipynb
"""
import argparse, os, re, sys, time
from pathlib import Path
from fastcore.nbio import read_nb, write_nb
from execnb.shell import CaptureShell

DIRECTIVE = re.compile(r"^\s*#\|\s*(.+?)\s*$")


def directives(src:str)->set:
    "The `#|` directives at the top of a cell, normalized ('eval: false', 'gpu', ...)."
    out = set()
    for line in src.splitlines():
        m = DIRECTIVE.match(line)
        if not m:
            if line.strip(): break
            continue
        out.add(re.sub(r"\s+", " ", m.group(1).strip().lower()))
    return out


def skip_cell(cell, skip_slow=False)->bool:
    "True for cells that keep their recorded outputs."
    if cell.cell_type != "code": return True
    d = directives(cell.source)
    return bool({"eval: false", "gpu"} & d) or (skip_slow and "slow" in d)


def run(path:Path, skip_slow=False, timeout=None)->float:
    "Execute one notebook in its folder, in place; returns the seconds it took."
    nb = read_nb(path)
    cwd = os.getcwd(); os.chdir(path.parent)
    t0 = time.time()
    try:
        sh = CaptureShell()
        sh.run_all(nb, exc_stop=True, preproc=lambda c: skip_cell(c, skip_slow), cell_timeout=timeout)
    finally:
        os.chdir(cwd)
    write_nb(nb, path)
    return time.time() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebooks", nargs="+", type=Path)
    ap.add_argument("--skip-slow", action="store_true", help="also keep the outputs of #| slow cells")
    ap.add_argument("--timeout", type=int, default=None, help="seconds per cell")
    a = ap.parse_args()
    for p in a.notebooks:
        print(f"{p}: {run(p, a.skip_slow, a.timeout):.1f} s", flush=True)


if __name__ == "__main__": sys.exit(main())

#!/usr/bin/env python
"""How readable the exported modules are, by the measures of issue 16 (nanoGPT's shape as the yardstick).

For each `crate_mae/*.py`: lines over 120 characters (written ones; nbdev's `__all__` and the module docstring
it takes from the chapter's `>` summary are counted apart), statements chained on one line (`a; b`), local
names of one letter that are not the paper's or a tensor's symbols, and every function or class longer than
50 lines, with the lines of its body (without signature and docstring) in brackets.

    python tools/style_report.py              # all modules
    python tools/style_report.py model cli    # some
    python tools/style_report.py --long 40    # another threshold for long definitions
"""
import argparse, ast, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SYMBOLS = set("xyzndpqkvij_") | set("BNKCHWLPTDEUZXYAGMSIQV")   # paper symbols and tensor shapes


def chained(tree)->int:
    "Statements that share a line with the previous one in the same block (`a; b`)."
    n = 0
    for node in ast.walk(tree):
        for name in ("body", "orelse", "finalbody"):
            block = getattr(node, name, None)
            if isinstance(block, list):
                n += sum(a.end_lineno == b.lineno for a, b in zip(block, block[1:])
                         if isinstance(a, ast.stmt) and isinstance(b, ast.stmt))
    return n


def one_letter(tree)->set:
    "One-letter names assigned inside functions that are not symbols (exception and `with ... as f` names aside)."
    out = set()
    for fn in ast.walk(tree):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)): continue
        skip = {id(w.optional_vars) for w in ast.walk(fn) if isinstance(w, ast.withitem)}
        for node in ast.walk(fn):
            if (isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and len(node.id) == 1
                    and node.id not in SYMBOLS and id(node) not in skip): out.add(node.id)
    return out


def long_defs(tree, limit)->list:
    "(name, lines, body lines) of functions and classes over `limit` lines, longest first."
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            n = node.end_lineno - node.lineno + 1
            if n <= limit: continue
            body = node.body[1:] if (node.body and isinstance(node.body[0], ast.Expr)
                                     and isinstance(getattr(node.body[0], "value", None), ast.Constant)) else node.body
            out.append((node.name, n, node.end_lineno - body[0].lineno + 1 if body else 0))
    return sorted(out, key=lambda r: -r[1])


def report(path:Path, limit:int)->dict:
    src = path.read_text()
    lines, tree = src.splitlines(), ast.parse(src)
    doc_end = tree.body[0].end_lineno if tree.body and isinstance(tree.body[0], ast.Expr) else 0
    generated = {i for i, l in enumerate(lines, 1) if l.startswith("__all__")} | set(range(1, doc_end + 1))
    over = [i for i, l in enumerate(lines, 1) if len(l) > 120]
    return dict(module=path.stem, written=len([i for i in over if i not in generated]),
                generated=len([i for i in over if i in generated]), chained=chained(tree),
                one_letter=sorted(one_letter(tree)), long=long_defs(tree, limit))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("modules", nargs="*", help="module names (default: all)")
    ap.add_argument("--long", type=int, default=50, help="report definitions longer than this (lines)")
    args = ap.parse_args(argv)
    paths = [ROOT/"crate_mae"/f"{m}.py" for m in args.modules] or sorted(
        p for p in (ROOT/"crate_mae").glob("*.py") if not p.name.startswith("_"))
    print(f"{'module':14s} {'>120':>5s} {'(gen)':>5s} {'a; b':>5s}  one-letter names; definitions > {args.long} lines")
    for p in paths:
        r = report(p, args.long)
        defs = ", ".join(f"{n} {k} ({b})" for n, k, b in r["long"])
        print(f"{r['module']:14s} {r['written']:5d} {r['generated']:5d} {r['chained']:5d}  "
              f"{''.join(r['one_letter']) or '-'}; {defs or '-'}")


if __name__ == "__main__": sys.exit(main())

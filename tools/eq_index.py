#!/usr/bin/env python
"""The equation index: every numbered equation of the paper that the notebooks cite, where, and in which function.

    python tools/eq_index.py --write   # regenerate the table in nbs/91_equations.ipynb from the notebooks
    python tools/eq_index.py --check   # exit 1 if a cited equation is missing from the stored table
                                       # or a function the table names no longer exists in crate_mae
    python tools/eq_index.py           # print the generated table

Citations are read from the chapter notebooks (`nbs/NN_*.ipynb`, the reference pages 9x excluded): `\\tag{...}` in
markdown, and parenthesized numbers `(2.11)`, `(A.237)`, `(B.1)` in markdown, code comments and docstrings; ranges
such as `(A.236)-(A.239)` cite every number in between (spans of up to four; longer ones, like `(A.26-A.32)`, cite
their two ends). An equation is attributed to a function
when the citation sits inside that function's (or class's) source in an `#| export` cell. `tools/build_docs.py` runs
`--check`, so CI fails when the index goes stale.
"""
import argparse, ast, importlib, json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NBS = ROOT/"nbs"
INDEX_NB = NBS/"91_equations.ipynb"
START, END = "<!-- eq-index:start -->", "<!-- eq-index:end -->"

EQ = r"(?:2\.\d{1,2}|[AB]\.\d{1,3})"                     # the paper's numbering: (2.x) in the text, (A.x), (B.x) appendices
CITE = re.compile(rf"\((?P<a>{EQ})\)(?:\s*[-–]\s*\((?P<b>{EQ})\))?|\((?P<c>{EQ})\s*[-–]\s*(?P<d>{EQ})\)|\\tag\{{(?P<t>[^}}]*)\}}")
LIST = re.compile(rf"\((?P<l>{EQ}(?:\s*,\s*{EQ})+)\)")    # (2.14, 2.19)

# short names of the equations, for the table (the notebooks carry the full statements)
NAMES = {
    "2.1": "signal model: tokens on K subspaces", "2.2": "noisy signal model", "2.3": "sparse rate reduction objective",
    "2.4": "coding rate R", "2.5": "compression term Rc", "2.6": "variance-exploding forward process",
    "2.7": "non-negative LASSO", "2.8": "MSSA", "2.9": "ISTA block", "2.10": "reverse-time SDE with the Rc stand-in",
    "2.11": "probability-flow ODE with the Rc stand-in (encoder direction)", "2.12": "compression iteration Z - kappa grad Rc",
    "2.14": "encoder layer", "2.15": "time reversal of (2.11) (decoder direction)",
    "2.16": "expansion iteration Y + kappa grad Rc", "2.17": "decoder layer", "2.18": "pre-processing f_pre",
    "2.19": "encoder as a composition of layers", "2.20": "decoder as a composition of layers",
    "2.21": "post-processing g_post", "2.22": "masked autoencoding loss",
    "A.9": "general reverse-time SDE", "A.26": "VE process (first of A.26-A.32)", "A.32": "VE process (last of A.26-A.32)", "A.13": "general probability-flow ODE", "A.29": "VE reverse-time drift",
    "A.30": "VE reverse-time process", "A.31": "VE reverse-time process", "A.33": "Tweedie's formula",
    "A.34": "noisy model of Theorem 3", "A.38": "gradient of Rc", "A.40": "Theorem 3's per-subspace form of the step",
    "A.46": "Remark 4's range of epsilon", "A.51": "Theorem 3's error terms", "A.52": "Theorem 3's error terms",
    "A.235": "score ~ -grad Rc / sigma^2", "A.236": "time-dependent vector field f(t, Y)",
    "A.237": "Euler step of (2.15)", "A.238": "grid condition (t_{l+1} - t_l)/(2 t_l) = kappa",
    "A.239": "geometric grid t_{l+1} = (1 + 2 kappa) t_l", "B.1": "pre-processing (appendix B)",
    "B.2": "post-processing (appendix B)",
}


def key(eq:str):
    "Sort key: the text's (2.x) first, then (A.x), then (B.x), numerically."
    part, num = eq.split(".")
    return ({"2": 0, "A": 1, "B": 2}[part], int(num))


def expand(a:str, b:str)->list:
    "All numbers from `a` to `b` when they share a prefix and the range is short, else the two ends."
    (pa, na), (pb, nb) = a.split("."), b.split(".")
    if pa == pb and 0 <= int(nb) - int(na) <= 3: return [f"{pa}.{i}" for i in range(int(na), int(nb) + 1)]
    return [a, b]


def citations(text:str)->list:
    "Equation numbers cited in `text`, in order, ranges expanded."
    out = []
    for m in CITE.finditer(text):
        if m["t"] is not None: out += [x.strip() for x in m["t"].split(",") if re.fullmatch(EQ, x.strip())]
        elif m["c"]: out += expand(m["c"], m["d"])
        elif m["b"]: out += expand(m["a"], m["b"])
        else: out.append(m["a"])
    for m in LIST.finditer(text): out += [x.strip() for x in m["l"].split(",")]
    return out


def chapters():
    "The chapter notebooks, in order (reference pages 9x are excluded: they cite everything)."
    return [p for p in sorted(NBS.glob("[0-9]*.ipynb")) if not re.match(r"^9\d", p.name)]


def title(cells)->str:
    for c in cells:
        if c["cell_type"] == "markdown":
            m = re.search(r"^# (.+)$", "".join(c["source"]), re.M)
            if m: return m.group(1).strip()
    return ""


def defs_citing(src:str)->dict:
    "For an exported cell: {equation: [top-level names whose source cites it]}."
    code = "\n".join(l for l in src.splitlines() if not l.lstrip().startswith("#|"))
    try: tree = ast.parse(code)
    except SyntaxError: return {}
    lines, out = code.splitlines(), {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
            body = "\n".join(lines[node.lineno - 1:node.end_lineno])
            for eq in citations(body): out.setdefault(eq, []).append(_qualname(node))
    return out


def _qualname(node)->str:
    "`Class.method` for a method added with fastcore's `@patch` (`def f(self:Class, ...)`), else the name."
    patched = any(isinstance(d, ast.Name) and d.id == "patch" for d in getattr(node, "decorator_list", []))
    args = getattr(node, "args", None)
    if patched and args and args.args and isinstance(args.args[0].annotation, ast.Name):
        return f"{args.args[0].annotation.id}.{node.name}"
    return node.name


def collect()->dict:
    "{equation: {(notebook, title, section): set of 'module.name'}} from every chapter notebook."
    idx = {}
    for p in chapters():
        cells = json.loads(p.read_text())["cells"]
        mod = next((m.group(1) for c in cells if c["cell_type"] == "code"
                    for m in [re.search(r"#\|\s*default_exp\s+(\S+)", "".join(c["source"]))] if m), None)
        ttl, section = title(cells), ""
        for c in cells:
            src = "".join(c["source"])
            if c["cell_type"] == "markdown":
                for line in src.splitlines():
                    h = re.match(r"^(##{1,2}) (.+)$", line)
                    if h: section = h.group(2).strip()
                for eq in citations(src): idx.setdefault(eq, {}).setdefault((p.name, ttl, section), set())
            elif c["cell_type"] == "code":
                exported = re.search(r"^#\|\s*export", src, re.M) is not None and mod
                named = defs_citing(src) if exported else {}
                comments = "\n".join(re.findall(r"#(?!\|)(.*)$", src, re.M)) + "\n" + "\n".join(re.findall(r'"(?:[^"\\]|\\.)*"', src))
                for eq in set(citations(comments)) | set(named):
                    idx.setdefault(eq, {}).setdefault((p.name, ttl, section), set()).update(f"{mod}.{n}" for n in named.get(eq, []))
    return idx


def table(idx:dict)->str:
    "The index as a markdown table, one row per equation."
    rows = ["| Equation | What | Where (chapter: section) | Code |", "|---|---|---|---|"]
    for eq in sorted(idx, key=key):
        where, code = [], set()
        for (nb, ttl, sec), fns in idx[eq].items():
            num = re.match(r"^0*(\d+[a-z]?)_", nb).group(1)
            where.append(f"[{num}]({nb}): {sec or 'introduction'}")
            code |= fns
        where = list(dict.fromkeys(where))
        main = [w for w in where if not re.search(r": (Summary|Exercises|Further reading|Hint)$", w)]
        where = main or where
        rows.append(f"| ({eq}) | {NAMES.get(eq, '')} | {'<br>'.join(where)} | "
                    f"{', '.join(f'`{c}`' for c in sorted(code))} |")
    return "\n".join(rows)


def stored()->str:
    "The table currently stored in the index notebook."
    src = "".join(c for cell in json.loads(INDEX_NB.read_text())["cells"] for c in cell["source"] if cell["cell_type"] == "markdown")
    m = re.search(re.escape(START) + r"\n(.*?)\n" + re.escape(END), src, re.S)
    return m.group(1) if m else ""


def write(tbl:str):
    "Put `tbl` between the markers of the index notebook."
    nb = json.loads(INDEX_NB.read_text())
    for c in nb["cells"]:
        src = "".join(c["source"])
        if c["cell_type"] == "markdown" and START in src:
            new = re.sub(re.escape(START) + r".*?" + re.escape(END), lambda _: f"{START}\n{tbl}\n{END}", src, flags=re.S)
            c["source"] = new.splitlines(keepends=True)
    INDEX_NB.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def check()->list:
    "Problems: equations cited but not in the stored table, functions in the stored table that do not exist."
    problems, tbl = [], stored()
    indexed = set(re.findall(rf"^\| \(({EQ})\) \|", tbl, re.M))
    for eq in sorted(set(collect()) - indexed, key=key):
        where = ", ".join(sorted({nb for nb, _, _ in collect()[eq]}))
        problems.append(f"({eq}) is cited in {where} but missing from the equation index")
    sys.path.insert(0, str(ROOT))
    for mod, name in sorted(set(re.findall(r"`([a-z_]+)\.([A-Za-z_][\w.]*)`", tbl))):
        try:
            obj = importlib.import_module(f"crate_mae.{mod}")
            for part in name.split("."): obj = getattr(obj, part)
            ok = True
        except (ImportError, AttributeError): ok = False
        if not ok: problems.append(f"the equation index names crate_mae.{mod}.{name}, which does not exist")
    return problems


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--write", action="store_true", help="regenerate the table in nbs/91_equations.ipynb")
    g.add_argument("--check", action="store_true", help="fail on missing equations or vanished functions")
    a = ap.parse_args(argv)
    if a.write:
        tbl = table(collect()); write(tbl); print(f"{INDEX_NB.relative_to(ROOT)}: {tbl.count(chr(10)) - 1} equations"); return 0
    if a.check:
        problems = check()
        for p in problems: print("eq_index:", p)
        if problems: print("eq_index: run `python tools/eq_index.py --write` and review nbs/91_equations.ipynb"); return 1
        if stored() != table(collect()): print("eq_index: note: the stored table differs from the notebooks (sections or functions moved); `--write` refreshes it")
        print("eq_index: ok"); return 0
    print(table(collect())); return 0


if __name__ == "__main__": sys.exit(main())

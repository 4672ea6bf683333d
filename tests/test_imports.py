"""The package's import graph: no circle, and no module imports from a layer above its own.

Read from the generated modules' source (every `import` statement, those inside functions too), so
a lazy import inside a function counts like one at the top of the file.
"""
import ast
from pathlib import Path
import crate_mae

PKG = Path(crate_mae.__file__).parent
# the layers, from the bottom; a module may import from its own layer (without a circle) and those below
LAYERS = [
    ("theory", {"coding_rate", "denoising", "diffusion"}),
    ("layers", {"mssa", "ista", "encoder", "decoder"}),
    ("models", {"registry", "model", "vit_mae", "pretrained"}),
    ("data and training", {"data", "train"}),
    ("evaluation and studies", {"evaluate", "analysis", "perf", "gpu", "study", "figures", "visible"}),
    ("command line", {"cli"}),
]
LAYER = {m: i for i, (_, mods) in enumerate(LAYERS) for m in mods}
SKIP = {"__init__", "_modidx"}  # no code: the package docstring and nbdev's index


def imports(path):
    "The package modules that the module at `path` imports, with the line of the first import."
    out = {}
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom):
            if node.level == 1: names = [node.module] if node.module else [a.name for a in node.names]
            elif node.level == 0 and (node.module or "").split(".")[0] == "crate_mae":
                parts = node.module.split(".")
                names = [parts[1]] if len(parts) > 1 else [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name.split(".")[1] for a in node.names if a.name.startswith("crate_mae.")]
        for n in names: out.setdefault(n.split(".")[0], node.lineno)
    return out


def graph():
    mods = {p.stem: p for p in PKG.glob("*.py") if p.stem not in SKIP}
    return {m: {d: ln for d, ln in imports(p).items() if d in mods and d != m} for m, p in mods.items()}


def test_every_module_has_a_layer():
    missing = sorted(set(graph()) - set(LAYER))
    assert not missing, f"give these modules a layer in tests/test_imports.py (LAYERS): {missing}"


def test_no_import_circle():
    g, state, path = graph(), {}, []
    def visit(m):  # depth-first search; a grey node met again closes a circle
        state[m] = "grey"; path.append(m)
        for d in g[m]:
            if state.get(d) == "grey":
                circle = path[path.index(d):] + [d]
                raise AssertionError("import circle: " + " -> ".join(circle))
            if d not in state: visit(d)
        state[m] = "black"; path.pop()
    for m in sorted(g):
        if m not in state: visit(m)


def test_layers():
    bad = [f"{m} (layer {LAYERS[LAYER[m]][0]}) imports {d} (layer {LAYERS[LAYER[d]][0]}) at line {ln}"
           for m, deps in graph().items() for d, ln in deps.items()
           if m in LAYER and d in LAYER and LAYER[d] > LAYER[m]]
    assert not bad, "imports from a higher layer:\n" + "\n".join(bad)


def test_the_checks_see_a_circle(tmp_path):
    "The parser finds relative, absolute and function-level imports (a check that checks nothing would pass too)."
    (tmp_path/"a.py").write_text("from .b import x\ndef f():\n    import crate_mae.c\n")
    assert imports(tmp_path/"a.py") == {"b": 1, "c": 3}
    assert "vit_mae" not in graph()["model"] and "registry" in graph()["model"] and "registry" in graph()["vit_mae"]

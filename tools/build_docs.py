#!/usr/bin/env python
"""Build and check the documentation site offline, without Quarto.

0. `tools/eq_index.py --check`: the equation index must cover every cited equation and name only existing functions;
   `tools/link_chapters.py --check`: every "chapter N" in the prose is a link.
1. nbdev's own processing (`nbdev-proc-nbs` without its Quarto install step) writes `_proc/`.
2. The processed pages are staged in `_smalldocs/` under nbdev's page names (`01_coding_rate.ipynb`
   -> `coding_rate.ipynb`, as Quarto names them from nbdev's `output-file:`), with links rewritten.
3. `smalldocs render` builds the site into `_smalldocs/_docs/`; `smalldocs check` fails on broken links.

    python tools/build_docs.py            # proc + render + check
    python tools/build_docs.py --no-check # proc + render only
"""
import argparse, json, os, re, shutil, subprocess, sys
from pathlib import Path
import yaml

ROOT = Path(__file__).resolve().parent.parent
STAGE = ROOT/"_smalldocs"


def proc():
    "Run nbdev's notebook processing into `_proc/` (no Quarto needed)."
    os.chdir(ROOT)
    from nbdev.quarto import refresh_quarto_yml
    from nbdev.doclinks import _build_modidx
    from nbdev.serve import proc_nbs
    refresh_quarto_yml()
    _build_modidx()
    return proc_nbs(force=True)


def page(name):
    "nbdev's page name for a source file: number prefix stripped."
    return re.sub(r"^\d+[a-zA-Z0-9]*_", "", name.lower()) if name.endswith(".ipynb") else name


def fix_links(text, names):
    "Point links at source notebooks `names` to their renamed pages."
    for old, new in names.items():
        text = re.sub(rf"(\]\(|href=\"|: |- ){re.escape(old)}", lambda m: m.group(1) + new, text)
    return text


def quarto_only(name, cfg):
    "Drop the settings only Quarto reads (smalldocs builds html alone and reports them)."
    if name == "_quarto.yml":
        fmt = cfg.get("format", {})
        fmt.pop("commonmark", None)
        for k in ("keep-md", "html-math-method"): fmt.get("html", {}).pop(k, None)
    cfg.pop("format-links", None)
    return cfg


def stage(proc_dir):
    "Copy `_proc` to `_smalldocs` with nbdev's page names."
    shutil.rmtree(STAGE, ignore_errors=True)
    STAGE.mkdir()
    names = {p.name: page(p.name) for p in proc_dir.glob("*.ipynb")}
    for p in proc_dir.iterdir():
        if p.is_dir(): shutil.copytree(p, STAGE/p.name); continue
        dest = STAGE/names.get(p.name, p.name)
        if p.suffix in (".ipynb", ".yml", ".qmd", ".md"):
            txt = p.read_text()
            if p.suffix == ".ipynb":
                nb = json.loads(txt)
                for c in nb["cells"]:
                    src = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                    if c["cell_type"] == "markdown": c["source"] = fix_links(src, names)
                    for o in c.get("outputs", []):
                        md = o.get("data", {}).get("text/markdown")
                        if md is not None: o["data"]["text/markdown"] = fix_links("".join(md), names)
                    # the file already carries its page name: smalldocs does not read output-file
                    if c["cell_type"] == "raw": c["source"] = re.sub(r"(?m)^output-file:.*\n", "", src)
                txt = json.dumps(nb)
            elif p.suffix == ".yml":
                txt = yaml.safe_dump(quarto_only(p.name, yaml.safe_load(fix_links(txt, names))), sort_keys=False)
            else: txt = fix_links(txt, names)
            dest.write_text(txt)
        else: shutil.copy2(p, dest)
    return names


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-check", action="store_true", help="skip the link check")
    args = ap.parse_args()
    subprocess.run([sys.executable, str(ROOT/"tools"/"eq_index.py"), "--check"], check=True)
    nbs = sorted(str(p) for p in (ROOT/"nbs").glob("*.ipynb"))
    subprocess.run([sys.executable, str(ROOT/"tools"/"link_chapters.py"), "--check", *nbs], check=True)
    proc_dir = proc()
    names = stage(proc_dir)
    print(f"staged {len(names)} pages in {STAGE.relative_to(ROOT)}/")
    exe = Path(sys.executable).parent/"smalldocs"
    cmd = [str(exe) if exe.exists() else "smalldocs"]
    subprocess.run(cmd + ["render", str(STAGE)], check=True)
    if not args.no_check: subprocess.run(cmd + ["check", str(STAGE)], check=True)
    print(f"site: {STAGE.relative_to(ROOT)}/_docs/index.html")


if __name__ == "__main__": main()

#!/usr/bin/env python
"""Turn bare "chapter N" / "chapters N-M" mentions in markdown cells into links to the chapter notebooks.

    python tools/link_chapters.py nbs/07_model.ipynb nbs/11_analysis.ipynb   # rewrite in place
    python tools/link_chapters.py --check nbs/*.ipynb                        # exit 1 if a file would change
    python tools/link_chapters.py --dry-run nbs/07_model.ipynb               # print the changed lines only

"chapter 3" becomes `[chapter 3](03_diffusion.ipynb)`; in a list ("chapters 4 and 5", "chapters 11-12") each
number is linked: `chapters [4](04_mssa.ipynb) and [5](05_ista.ipynb)`. A bare number matches the notebook with that
number (`6` -> the first of `06a_...`, `06b_...`); `6b` matches `06b_...`. Left alone: headings, fenced and inline
code, math (`$...$`, `$$...$$`), text already inside a link, numbers with no notebook, and the notebook's own number.
Running it twice changes nothing (the linked text is inside a link the second time). `tools/build_docs.py` rewrites
the `NN_name.ipynb` targets to the pages' names, so the links work in the built site.
"""
import argparse, json, re, sys
from pathlib import Path

# regions that are never rewritten, in the order they are matched
PROTECT = re.compile(r"""
    (?P<fence>^(```|~~~).*?^\2[ \t]*$)        # fenced code block
  | (?P<heading>^[ \t]*\#{1,6}[ \t].*$)         # heading line
  | (?P<dmath>\$\$.*?\$\$)                      # display math
  | (?P<imath>(?<!\\)\$[^$\n]+?(?<!\\)\$)       # inline math
  | (?P<code>`[^`\n]+`)                         # inline code
  | (?P<link>!?\[[^\]\n]*\]\([^)\n]*\))         # a link or an image (its text is left alone)
  | (?P<callout>^:::.*$)                        # callout fences and their attributes
""", re.M | re.S | re.X)
NUM = r"\d{1,2}[a-z]?"
MENTION = re.compile(rf"\b(?P<word>[Cc]hapters?)(?P<sp>[ \t]+|[ \t]*\n[ \t]*)(?P<nums>{NUM}(?:[ \t]*(?:-|–|,|and|or|to)[ \t]*{NUM})*)(?![\d.]*\d)(?![a-zA-Z])")


def chapter_files(folder:Path)->dict:
    "Map chapter numbers as written ('3', '6a', '6') to notebook names in `folder`."
    out = {}
    for p in sorted(folder.glob("[0-9]*.ipynb")):
        m = re.match(r"^0*(\d+)([a-z]?)_", p.name)
        if not m: continue
        num, letter = m.groups()
        out.setdefault(num + letter, p.name)
        out.setdefault(num, p.name)          # a bare number: the first notebook with that number
    return out


def own_numbers(name:str)->set:
    "The numbers a notebook would call itself by ('06b_decoder' -> {'6b'}; '03_x' -> {'3'})."
    m = re.match(r"^0*(\d+)([a-z]?)_", name)
    return {m.group(1) + m.group(2)} if m else set()


def link_text(text:str, files:dict, own:set)->str:
    "Link the chapter mentions of one unprotected piece of markdown."
    def one(m):
        nums = re.findall(NUM, m["nums"])
        if len(nums) == 1 and m["word"].lower() == "chapter":
            n = nums[0]
            if n in own or n not in files: return m[0]
            return f"[{m['word']}{m['sp']}{n}]({files[n]})"
        def num(k):
            n = k[0]
            return n if n in own or n not in files else f"[{n}]({files[n]})"
        return m["word"] + m["sp"] + re.sub(NUM, num, m["nums"])
    return MENTION.sub(one, text)


def link_markdown(src:str, files:dict, own:set)->str:
    "Link the chapter mentions of a markdown cell, leaving its protected regions as they are."
    out, pos = [], 0
    for m in PROTECT.finditer(src):
        out.append(link_text(src[pos:m.start()], files, own)); out.append(m[0]); pos = m.end()
    out.append(link_text(src[pos:], files, own))
    return "".join(out)


def process(path:Path, write=True)->list:
    "Rewrite one notebook; return the (old, new) markdown sources that changed."
    nb = json.loads(path.read_text())
    files, own = chapter_files(path.parent), own_numbers(path.name)
    changed = []
    for c in nb["cells"]:
        if c["cell_type"] != "markdown": continue
        src = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        new = link_markdown(src, files, own)
        if new != src:
            changed.append((src, new)); c["source"] = new.splitlines(keepends=True)
    if changed and write: path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return changed


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebooks", nargs="+", type=Path)
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 if a notebook would change")
    ap.add_argument("--dry-run", action="store_true", help="change nothing; print the lines that would change")
    a = ap.parse_args(argv)
    todo = 0
    for p in a.notebooks:
        changed = process(p, write=not (a.check or a.dry_run))
        n = sum(len(re.findall(r"\]\(\d", new)) - len(re.findall(r"\]\(\d", old)) for old, new in changed)
        if changed: print(f"{p}: {n} chapter link(s) {'to add' if a.check or a.dry_run else 'added'}")
        if a.dry_run:
            for old, new in changed:
                for lo, ln in zip(old.splitlines(), new.splitlines()):
                    if lo != ln: print(f"  - {lo}\n  + {ln}")
        todo += bool(changed)
    return 1 if (a.check and todo) else 0


if __name__ == "__main__": sys.exit(main())

#!/usr/bin/env python
"""Semantics-preserving line breaking of the exported cells of notebooks (issue 16's point 5).

1. `a; b` on one line becomes one statement per line (`if c: a; b` becomes a block);
2. a line over 120 characters that is `if/for/while/with/else ...: statement` becomes a block;
3. a line still over 120 characters gets a string literal inside brackets split at a space into two
   adjacent literals, aligned under the first.
A cell is rewritten only if its new source parses to the same AST (`ast.dump`, positions aside) as before,
so no result can change; what is left over 120 characters is for a person to rewrite.

    python tools/reflow_cells.py nbs/12_study.ipynb nbs/13_perf.ipynb   # rewrite in place
    python tools/reflow_cells.py --dry-run nbs/12_study.ipynb           # only report
"""
import argparse, ast, io, json, re, sys, tokenize
from pathlib import Path

LIMIT = 120

def bslice(line, a, b=None):
    "Slice a str by UTF-8 byte offsets."
    enc = line.encode()
    return enc[a:b].decode() if b is not None else enc[a:].decode()


def stmt_lists(tree):
    for node in ast.walk(tree):
        for name in ("body", "orelse", "finalbody"):
            seq = getattr(node, name, None)
            if isinstance(seq, list) and seq and isinstance(seq[0], ast.stmt): yield node, name, seq


def same(a, b):
    try: return ast.dump(ast.parse(a)) == ast.dump(ast.parse(b))
    except SyntaxError: return False


def split_semicolons(src):
    "One pass: rewrite the first line holding a `;` chain; return the new source or None."
    try: tree = ast.parse(src)
    except SyntaxError: return None
    lines = src.split("\n")
    for parent, name, seq in stmt_lists(tree):
        i = 0
        while i < len(seq) - 1:
            group = [seq[i]]
            while i + len(group) < len(seq) and seq[i + len(group)].lineno == group[-1].end_lineno: group.append(seq[i + len(group)])
            if len(group) == 1: i += 1; continue
            if any(s.lineno != s.end_lineno for s in group) or any(isinstance(s, (ast.If, ast.For, ast.While, ast.With, ast.Try, ast.FunctionDef, ast.ClassDef)) for s in group):
                i += len(group); continue
            L = group[0].lineno - 1
            line = lines[L]
            prefix = bslice(line, 0, group[0].col_offset)
            rest = bslice(line, group[-1].end_col_offset).strip()
            comment = ("  " + rest) if rest.startswith("#") else ""
            if rest and not comment: i += len(group); continue
            parts = [bslice(line, s.col_offset, s.end_col_offset) for s in group]
            if prefix.strip():  # a header on the same line: `if c: a; b`
                if parent.lineno - 1 != L and name == "body": i += len(group); continue
                header = prefix.rstrip()
                if not header.endswith(":"): i += len(group); continue
                head_line = lines[parent.lineno - 1] if name == "body" else line
                ind = " " * (len(head_line) - len(head_line.lstrip()) + 4)
                new = [header] + [ind + p for p in parts]
            else:
                new = [prefix + p for p in parts]
            new[-1] += comment
            out = "\n".join(lines[:L] + new + lines[L + 1:])
            return out if same(src, out) else None
    return None


def blockify(src):
    "One pass: turn the first over-long `header: stmt` line into a block; None if nothing to do."
    try: tree = ast.parse(src)
    except SyntaxError: return None
    lines = src.split("\n")
    for node in ast.walk(tree):
        for name in ("body", "orelse"):
            seq = getattr(node, name, None)
            if not (isinstance(seq, list) and len(seq) == 1 and isinstance(seq[0], ast.stmt)): continue
            s = seq[0]
            if isinstance(s, (ast.If, ast.For, ast.While, ast.With, ast.Try)): continue
            if isinstance(node, ast.If) and name == "orelse" and isinstance(s, ast.If): continue  # elif
            L = s.lineno - 1
            line = lines[L]
            if len(line) <= LIMIT: continue
            prefix = bslice(line, 0, s.col_offset)
            if not prefix.strip() or not prefix.rstrip().endswith(":"): continue
            if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.Module)): continue
            head_line = lines[node.lineno - 1]
            base = len(head_line) - len(head_line.lstrip())
            if name == "orelse": base = len(line) - len(line.lstrip())
            ind = base + 4
            old_col = len(prefix)
            shift = ind - old_col
            body = " " * ind + line[old_col:]
            new = [prefix.rstrip(), body]
            cont = []
            for k in range(L + 1, s.end_lineno):
                c = lines[k]
                lead = len(c) - len(c.lstrip())
                cont.append(c[-shift:] if shift < 0 and lead >= -shift else (" " * shift + c if shift > 0 else c))
            out = "\n".join(lines[:L] + new + cont + lines[s.end_lineno:])
            if same(src, out): return out
    return None


STR_PREFIX = re.compile(r"^([rRbBfFuU]{0,2})(['\"])(.*)\2$", re.S)


def split_string(src):
    "One pass: split one string literal on the first over-long line; None if none can be split."
    lines = src.split("\n")
    try: toks = list(tokenize.generate_tokens(io.StringIO(src).readline))
    except (tokenize.TokenError, SyntaxError): return None
    depth = 0
    for t in toks:
        if t.type == tokenize.OP and t.string in "([{": depth += 1
        elif t.type == tokenize.OP and t.string in ")]}": depth -= 1
        if t.type != tokenize.STRING or depth <= 0: continue
        (r0, c0), (r1, c1) = t.start, t.end
        if r0 != r1: continue
        line = lines[r0 - 1]
        if len(line) <= LIMIT: continue
        if c0 > LIMIT - 20: continue
        m = STR_PREFIX.match(t.string)
        if not m or t.string.startswith(('"""', "'''")): continue
        prefix, q, body = m.groups()
        is_f = "f" in prefix.lower()
        # candidate split points: just after a space, outside braces, so that the first line fits
        best, depth_b, k = None, 0, 0
        while k < len(body):
            ch = body[k]
            if is_f and ch == "{":
                if body[k:k + 2] == "{{": k += 2; continue
                depth_b += 1
            elif is_f and ch == "}":
                if body[k:k + 2] == "}}" and depth_b == 0: k += 2; continue
                depth_b -= 1
            elif ch == "\\": k += 2; continue
            elif ch == " " and depth_b == 0:
                col = c0 + len(prefix) + 1 + k + 1 + 1  # first line would end here (after the closing quote)
                if col <= LIMIT and k + 1 < len(body): best = k + 1
            k += 1
        if best is None or best < 10: continue
        a, b = body[:best], body[best:]
        pa = prefix if (not is_f or "{" in a or "}" in a) else prefix.replace("f", "").replace("F", "")
        pb = prefix if (not is_f or "{" in b or "}" in b) else prefix.replace("f", "").replace("F", "")
        first = line[:c0] + pa + q + a + q
        second = " " * c0 + pb + q + b + q + line[c1:]
        out = "\n".join(lines[:r0 - 1] + [first, second] + lines[r0:])
        if same(src, out): return out
    return None


def reflow(src):
    for step in (split_semicolons, blockify, split_string):
        for _ in range(200):
            new = step(src)
            if new is None: break
            src = new
    return src



def exported(src:str)->bool:
    "True for an `#| export` cell."
    return any(l.strip().replace(" ", "") in ("#|export", "#|exporti") for l in src.splitlines()[:3])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebooks", nargs="+", type=Path)
    ap.add_argument("--dry-run", action="store_true", help="report the cells that would change; write nothing")
    args = ap.parse_args(argv)
    for path in args.notebooks:
        nb, changed, left = json.loads(path.read_text()), 0, 0
        for cell in nb["cells"]:
            src = "".join(cell["source"])
            if cell["cell_type"] != "code" or not exported(src): continue
            new = reflow(src)
            left += sum(len(l) > LIMIT for l in new.splitlines())
            if new == src: continue
            changed += 1
            lines = new.split("\n")
            cell["source"] = [l + "\n" for l in lines[:-1]] + ([lines[-1]] if lines[-1] else [])
        if changed and not args.dry_run: path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
        print(f"{path}: {changed} exported cells {'would change' if args.dry_run else 'changed'}; "
              f"{left} lines over {LIMIT} left for a person")


if __name__ == "__main__": sys.exit(main())

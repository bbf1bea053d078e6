"""A LaTeX-free check of a generated ``table`` environment: what would stop it compiling.

Not a TeX engine: it checks what a table generator can get wrong -- balanced braces and
environments, math shifts closed within each cell, no unescaped ``_ # % & ^ ~`` in text, every
``tabular`` row having the column count its spec declares (``\\multicolumn`` spans counted), and
only the commands the generator uses (booktabs' rules, ``\\textbf``, ``\\multicolumn`` ...).
"""

from __future__ import annotations

import re

KNOWN = {
    "begin", "end", "centering", "setlength", "tabcolsep", "caption", "label", "toprule", "midrule",
    "bottomrule", "cmidrule", "multicolumn", "textbf", "pm", "rightarrow", "dagger", "ddagger", "S", "P",
    "textbackslash", "textasciitilde", "textasciicircum", ",",
}  # fmt: skip


def _strip_comments(tex: str) -> str:
    return "\n".join(re.sub(r"(?<!\\)%.*", "", line) for line in tex.splitlines())


def check_table(tex: str) -> list[str]:
    """Problems found (empty: the table is well formed)."""
    problems = []
    body = _strip_comments(tex)
    depth = 0
    for i, ch in enumerate(body):
        if ch in "{}" and (i == 0 or body[i - 1] != "\\"):
            depth += 1 if ch == "{" else -1
            if depth < 0:
                problems.append(f"unbalanced '}}' at {i}")
                depth = 0
    if depth:
        problems.append(f"{depth} unclosed '{{'")
    stack = []
    for kind, env in re.findall(r"\\(begin|end)\{(\w+\*?)\}", body):
        if kind == "begin":
            stack.append(env)
        elif not stack or stack.pop() != env:
            problems.append(f"\\end{{{env}}} does not close the open environment")
    if stack:
        problems.append(f"unclosed environments {stack}")
    for cmd in re.findall(r"\\([A-Za-z]+|,)", body):
        if cmd not in KNOWN:
            problems.append(f"unknown command \\{cmd}")
    m = re.search(r"\\begin\{tabular\}\{([^}]*)\}(.*?)\\end\{tabular\}", body, re.S)
    if not m:
        return problems + ["no tabular"]
    columns = len(re.findall(r"[lcr]", m.group(1)))
    rows = [r.strip() for r in re.split(r"\\\\", m.group(2))]
    for row in rows:
        row = re.sub(r"\\(toprule|midrule|bottomrule)|\\cmidrule\([lr]+\)\{\d+-\d+\}", "", row).strip()
        if not row:
            continue
        cells = re.split(r"(?<!\\)&", row)
        width = sum(int(c.group(1)) if (c := re.search(r"\\multicolumn\{(\d+)\}", cell)) else 1 for cell in cells)
        if width != columns:
            problems.append(f"row has {width} columns, the spec {columns}: {row[:60]}")
        for cell in cells:
            if len(re.findall(r"(?<!\\)\$", cell)) % 2:
                problems.append(f"unclosed math in cell {cell!r}")
            text = re.sub(r"(?<!\\)\$.*?(?<!\\)\$", "", cell)
            bad = re.findall(r"(?<!\\)[_#%^~]", text)
            if bad:
                problems.append(f"unescaped {bad} in cell {cell!r}")
    caption = re.search(r"\\caption\{(.*)\}\n", body)
    if caption and re.findall(r"(?<!\\)[_#%&^~]", re.sub(r"(?<!\\)\$.*?(?<!\\)\$", "", caption.group(1))):
        problems.append("unescaped special character in the caption")
    return problems

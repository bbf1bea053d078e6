"""Grammars of configs: YAML files and ``key=value`` overrides, mutated from a valid one.

The keys come from the config itself (every leaf of the resolved config, the free-form sections'
keys the valid file uses, the checkpoint's model arguments), so a key added to the schema is
fuzzed without a change here.  :data:`NONSENSE` lists what no config may hold whatever the
schema says (a seed outside ``[0, 2^63)``, a probability outside [0, 1], NaN, lists out of
order, sizes no memory holds): an independent oracle of the validator.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import yaml
from hypothesis import strategies as st

from tests.cli.fuzz.formats import Raw, del_dotted, leaves, set_dotted, yaml_text
from tests.cli.fuzz.mutation import ROOT, Mutation, any_file
from tests.cli.fuzz.values import Value, any_value, deep, scalar_for, trap

#: unknown keys: a typo of a section, of a key, keys under a leaf, keys of free-form sections
UNKNOWN = ("foo", "data.foo", "train.seedd", "optim.lr.x", "model.args.foo", "data.synth.foo", "loss.aux_weights.foo")
#: free-form sections whose keys the validator must know all the same
FREE = ("model.args", "data.synth", "loss.aux_weights")


def _num(text: str) -> float | None:
    try:
        v = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError):  # ValueError: "!!float abc"
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


def _nums(text: str) -> list | None:
    try:
        v = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError):  # ValueError: "!!float abc"
        return None
    if not isinstance(v, list) or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
        return None
    return [float(x) for x in v]


def nonsense(key: str, text: str) -> bool:
    """Whether ``key: text`` is certainly wrong, whatever the schema allows."""
    x, xs = _num(text), _nums(text)
    last = key.rsplit(".", 1)[-1]
    if x is not None and math.isnan(x):
        return True
    if xs is not None and any(math.isnan(v) for v in xs):
        return True
    if last == "seed" and x is not None and not (0 <= x < 2**63):
        return True
    if last in ("height", "width", "num_pos", "test_batch_size") and x is not None and (x < 1 or x > 4096):
        return True
    if key in ("data.num_ids",) and x is not None and (x < 1 or x > 10**6):
        return True
    if last.endswith("_p") and x is not None and not (0 <= x <= 1):
        return True
    if key in ("optim.milestones", "data.erasing_area") and xs is not None and xs != sorted(xs):
        return True
    if key == "data.erasing_area" and xs is not None and (len(xs) != 2 or any(not 0 <= v <= 1 for v in xs)):
        return True
    if key == "optim.betas" and xs is not None and len(xs) != 2:
        return True
    if key == "data.synth.difficulty" and x is None and text not in ("null", "~"):
        return True
    return False


@lru_cache(maxsize=8)
def config_keys(path: str) -> tuple[dict, dict]:
    """``(file tree, {dotted key: value})`` of the valid config at ``path``: the file's own tree
    and every key of the resolved config plus the free-form keys the file uses."""
    from vireid.config import load_config, to_dict

    tree = yaml.safe_load(Path(path).read_text())
    keys = leaves(to_dict(load_config(path)))
    for section in FREE:
        node = to_dict(load_config(path))
        for part in section.split("."):
            node = node.get(part, {}) if isinstance(node, dict) else {}
        for k, v in (node or {}).items():
            keys[f"{section}.{k}"] = v
    if any(k.startswith("data.synth.") for k in keys):
        keys["data.synth.force"] = False
    for key, value in keys.items():  # "warmup_epochs: 1" in a file is a float the schema declares
        if type(value) is int and _declared(key) is float:
            keys[key] = float(value)
    return tree, keys


def _declared(key: str) -> object:
    """The type the schema declares for a dotted ``section.field`` key (``None`` when not one)."""
    import typing

    from vireid.config import schema

    section, _, name = key.partition(".")
    cls = typing.get_type_hints(schema.Config).get(section)
    hints = typing.get_type_hints(cls) if isinstance(cls, type) else {}
    hint = hints.get(name)
    return typing.get_args(hint)[0] if typing.get_origin(hint) is typing.Annotated else hint


@st.composite
def assignment(draw, keys: dict) -> tuple[str, Value, Mutation]:
    """A key and a value for it: a known key with a value from its type's grammar, a trap, or an
    unknown key; returns the mutation's verdict too."""
    kind = draw(st.sampled_from(["value", "value", "value", "unknown", "trap"]))
    if kind == "unknown":
        key, v = draw(st.sampled_from(UNKNOWN)), draw(any_value())
        return key, v, Mutation(note=f"unknown key {key}={v.note}", bad=True, blame=(key, key.rsplit(".", 1)[-1]))
    key = draw(st.sampled_from(sorted(keys)))
    v = draw(trap() if kind == "trap" else scalar_for(keys[key]))
    bad = v.bad or nonsense(key, v.text)
    allow = ("cwd",) if key.startswith(("data.root", "data.synth", "data.dataset")) else ()
    if key.startswith(("data.synth", "data.root")):
        allow += ("dataset",)
    return key, v, Mutation(note=f"{key}={v.note[:80]}", bad=bad, blame=(key, key.rsplit(".", 1)[-1]), allow=allow)


@st.composite
def overrides(draw, keys: dict) -> Mutation:
    """One to three ``key=value`` words, or a malformed one."""
    if draw(st.integers(0, 5)) == 0:
        word = draw(st.sampled_from(["=1", "a..b=1", ".a=1", "a.=1", "data=1", "data.root.x=1", "train.seed=1=2"]))
        return Mutation(words=(word,), note=f"override {word!r}", blame=(word, word.split("=")[0]))
    out = Mutation()
    for _ in range(draw(st.integers(1, 3))):
        key, v, m = draw(assignment(keys))
        out = Mutation(
            words=out.words + (f"{key}={v.text}",),
            note=(out.note + "; " if out.note else "") + m.note,
            bad=out.bad or m.bad,
            blame=out.blame + m.blame,
            allow=out.allow + m.allow,
        )
    if len(out.words) > 1 and not out.bad:  # several problems: a refusal may name any
        return out
    return out


@st.composite
def config_file(draw, rel: str, pristine: Path) -> Mutation:
    """The config file at ``rel`` mutated as a user (or an attacker) might."""
    path = pristine / rel
    tree, keys = config_keys(str(path))
    name = Path(rel).name
    kind = draw(st.sampled_from(["value", "value", "missing", "duplicate", "deep", "text", "base", "file"]))
    if kind == "value":
        key, v, m = draw(assignment(keys))
        text = yaml_text(set_dotted(tree, key, Raw(v.text)))
        return m.but(ops=(("write", rel, text.encode()),), blame=m.blame + (name,))
    if kind == "missing":
        key = draw(st.sampled_from(sorted(leaves(tree))))
        allow = ("cwd", "dataset") if key.startswith("data.") else ()
        return Mutation((("write", rel, yaml_text(del_dotted(tree, key)).encode()),), f"{key} removed", allow=allow)
    if kind == "duplicate":
        key = draw(st.sampled_from(sorted(set(leaves(tree)) | set(tree))))
        text = yaml_text(tree, duplicate=key)
        return Mutation(
            (("write", rel, text.encode()),), f"{key} given twice", bad=True, blame=(key.rsplit(".", 1)[-1],)
        )
    if kind == "deep":
        depth = draw(st.integers(100, 50000))
        style = draw(st.sampled_from(["block", "flow", "mapping"]))
        if style == "block":
            text = "".join(f"{' ' * i}a{i}:\n" for i in range(min(depth, 3000))) + " " * min(depth, 3000) + "x: 1\n"
        else:
            text = "train:\n  seed: " + deep(depth, "[" if style == "flow" else "{") + "\n"
        return Mutation((("write", rel, text.encode()),), f"nested {depth} deep ({style})", bad=True, blame=(name,))
    if kind == "text":
        base = yaml_text(tree)
        variant = draw(st.sampled_from(["bom", "crlf", "tabs", "nul", "latin1", "comments", "multidoc", "garbage"]))
        text = {
            "bom": "\ufeff" + base,
            "crlf": base.replace("\n", "\r\n"),
            "tabs": base.replace("  ", "\t"),
            "nul": base + "\x00",
            "latin1": base,
            "comments": "# nothing but a comment\n",
            "multidoc": base + "---\n" + base,
            "garbage": base + ":::\n  - [\n",
        }[variant]
        data = text.encode() if variant != "latin1" else base.encode() + "# caf\xe9\n".encode("latin-1")
        bad = variant in ("tabs", "nul", "latin1", "multidoc", "garbage")
        return Mutation((("write", rel, data),), f"config text: {variant}", bad=bad, blame=(name,))
    if kind == "base":
        target = draw(
            st.sampled_from(
                [
                    "missing.yaml",
                    name,
                    ".",
                    "123",
                    "[a]",
                    "../../../../../../etc/passwd",
                    "deen_sysu",
                    "/dev/zero",
                    "''",
                ]
            )
        )
        t = dict(tree)
        t["base"] = Raw(target)
        bad = target not in ("deen_sysu", name)
        return Mutation(
            (("write", rel, yaml_text(t).encode()),), f"base: {target}", bad=bad or target == name, blame=(name, "base")
        )
    return draw(any_file(rel, path.read_bytes(), structured=False, what="the config"))


def dataset_words(layout: str) -> tuple[str, ...]:
    """Overrides that read the world's dataset of ``layout`` as an official one (not synthetic)."""
    root = {"sysu": "dataset", "regdb": "regdb", "llcm": "llcm"}[layout]
    return (f"data.dataset={layout}", f"data.root={ROOT}/{root}", "data.synth=null")

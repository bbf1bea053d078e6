"""Keys of vireid 0.1 configs, read as today's (saved run configs and users' files keep loading).

vireid 0.1 wrote the objective as flat keys (``loss.cpm_weight: 0.8``); today each term is its own
sub-section, its keys declared by the term (``loss.cpm.weight``).  :func:`translate` rewrites the old
keys of a config tree and returns a note naming them (printed once per file as a
:class:`~vireid.errors.VireidWarning`).  This table is closed: a new hyperparameter never comes here.
"""

from __future__ import annotations

from typing import Any, Mapping

#: old ``loss.<key>`` -> the ``(term, key)`` pairs it sets (``triplet: none`` is ``triplet.weight: 0``)
LOSS_KEYS: dict[str, tuple[tuple[str, str], ...]] = {
    "id_weight": (("id", "weight"),),
    "label_smoothing": (("id", "label_smoothing"),),
    "triplet": (("triplet", "kind"),),
    "triplet_weight": (("triplet", "weight"),),
    "triplet_margin": (("triplet", "margin"),),
    "cpm_weight": (("cpm", "weight"),),
    "cpm_margin": (("cpm", "margin"),),
    "metric_normalize": (("triplet", "normalize"), ("cpm", "normalize")),
    "ort_weight": (("ort", "weight"),),
    "aux_weights": (("ort", "weights"),),
    "svdo_of_weight": (("svdo_of", "weight"),),
    "svdo_ow_weight": (("svdo_ow", "weight"),),
    "infonce_weight": (("infonce", "weight"),),
    "infonce_temperature": (("infonce", "temperature"),),
}
#: dataset options vireid 0.1 wrote for every dataset, and their values there
DATA_KEYS: dict[str, Any] = {"trial": 1, "mode": "all", "shot": "single"}


def translate(tree: Mapping[str, Any], lines: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``tree`` with the old loss keys rewritten (``lines``, the key -> location map, follows them),
    and the old keys found."""
    loss = tree.get("loss")
    if not isinstance(loss, Mapping):
        return dict(tree), []
    # "triplet" is both an old key (its kind, a string) and today's section (a mapping)
    found = [k for k, v in loss.items() if k in LOSS_KEYS and not (k == "triplet" and isinstance(v, Mapping))]
    if not found:
        return dict(tree), []
    out = {k: v for k, v in loss.items() if k not in found}
    for old in found:
        value = loss[old]
        for term, key in LOSS_KEYS[old]:
            section = out.setdefault(term, {})
            if not isinstance(section, dict):
                continue  # "loss.cpm: 3" alongside an old key: the validator names it
            if old == "triplet" and value == "none":
                section["weight"] = 0.0
                continue
            section[key] = value
            if f"loss.{old}" in lines:
                lines.setdefault(f"loss.{term}.{key}", lines[f"loss.{old}"])
                lines.setdefault(f"loss.{term}", lines[f"loss.{old}"])
    if "triplet" in found and loss["triplet"] == "none":  # wins over a triplet_weight given beside it
        out.setdefault("triplet", {})["weight"] = 0.0
    return {**tree, "loss": out}, [f"loss.{k}" for k in found]


def note(source: str, found: list[str]) -> str:
    new = {f"loss.{t}.{k}" for old in found for t, k in LOSS_KEYS[old.split(".", 1)[1]]}
    return (
        f"{source}: vireid 0.1 loss keys read as today's ({', '.join(found)} -> {', '.join(sorted(new))}); "
        "each objective term is now its own sub-section (loss.cpm.weight)"
    )


def legacy_loss_value(terms: Mapping[str, Mapping[str, Any]], name: str) -> tuple[bool, Any]:
    """``(found, value)`` of an old flat loss key in resolved ``terms`` (``cfg.loss.cpm_weight``)."""
    if name not in LOSS_KEYS:
        return False, None
    from vireid.objective.terms import TERMS

    def get(term: str, key: str) -> Any:
        section = terms.get(term) or {}
        if key in section:
            return section[key]
        cls = TERMS.get(term)
        return cls.default_weight if key == "weight" else cls.config_params().defaults().get(key)

    term, key = LOSS_KEYS[name][0]
    if name == "triplet":
        return True, "none" if not get("triplet", "weight") else get("triplet", "kind")
    value = get(term, key)
    return True, dict(value or {}) if name == "aux_weights" else value

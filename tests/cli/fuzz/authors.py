"""Grammar of the authors' ``.t`` checkpoint (DEEN's ``save_model``): a pickle that runs code, keys
removed, NaN weights, another object, or the file as a whole.  Which keys matter is the
converter's own map (:func:`vireid.models.official.map_official_key`): their model holds tensors it
never uses, and those may be anything, as in their code."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Callable

from hypothesis import strategies as st

from tests.cli.fuzz.mutation import Mutation, any_file


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("touch PWNED",))


@st.composite
def official(draw, rel: str, pristine: Path) -> Mutation:
    """The authors' ``.t`` checkpoint: a pickle that runs code, keys removed, NaN weights, or the file."""
    import torch

    how = draw(st.sampled_from(["evil", "keys", "nan", "not-dict", "file"]))
    data = (pristine / rel).read_bytes()
    if how == "file":
        return draw(any_file(rel, data, structured=True, what="the authors' checkpoint"))
    buf = io.BytesIO()
    if how == "evil":
        torch.save({"net": _Evil()}, buf)
        return Mutation(
            (("write", rel, buf.getvalue()),), "a pickle that runs a command", bad=True, blame=(Path(rel).name,)
        )
    obj = torch.load(io.BytesIO(data), weights_only=False)  # the world's own file (numpy scalars, as the authors')
    net = obj["net"] if isinstance(obj, dict) and "net" in obj else obj
    used = _official_used(net)
    bad = True
    if how == "keys":
        key = draw(st.sampled_from(sorted(net)))
        net = {k: v for k, v in net.items() if k != key}
        note = f"the authors' checkpoint without {key}"
        bad = used(key) and not key.endswith(".num_batches_tracked")  # torch tolerates a missing counter
    elif how == "nan":
        key = draw(st.sampled_from(sorted(k for k, v in net.items() if v.is_floating_point() and v.numel())))
        net = dict(net)
        net[key] = torch.full_like(net[key], float("nan"))
        note = f"the authors' checkpoint with NaN in {key}"
        bad = used(key)
    else:
        net, note = [1, 2, 3], "the authors' checkpoint holds a list"
    torch.save({"net": net} if isinstance(obj, dict) and "net" in obj else net, buf)
    return Mutation(
        (("write", rel, buf.getvalue()),), note, bad=bad, ok=not bad, blame=(Path(rel).name,) if bad else ()
    )


def _official_used(net) -> Callable[[str], bool]:
    """Whether the converter reads an authors' key: the keys their model holds but never uses
    (the other modality's stems beyond conv1/bn1, RegDB's layer4, ...) are ignored, as in their code."""
    from vireid.models.official import map_official_key

    variant = "default" if any(k.startswith("MFA3.") for k in net) else "regdb"
    return lambda key: map_official_key(key, variant) is not None

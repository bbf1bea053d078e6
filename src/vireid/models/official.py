"""Load the DEEN authors' checkpoints (``*.t`` files of ZYK100/LLCM) into :class:`DEEN`.

Their ``train.py`` saves ``torch.save({'net': state_dict, 'cmc': ndarray,
'mAP': np.float64, 'mINP': np.float64, 'epoch': int}, '*_best.t')``.  We read it
with ``torch.load(weights_only=True)`` allowing only numpy's array/scalar types
(:func:`vireid.utils.io.safe_torch_load`), so no arbitrary code can run.

Name mapping (theirs -> ours); a ``module.`` prefix (DataParallel) is stripped:

* ``visible_module.visible.{conv1,bn1}.*``  -> ``stem_visible.{conv1,bn1}.*``
* ``thermal_module.thermal.{conv1,bn1}.*``  -> ``stem_infrared.{conv1,bn1}.*``
* ``base_resnet.base.layerN.*``             -> ``backbone.layerN.*``
* ``MFAk.CNL.{g,theta,phi}.*``              -> ``mfak.cnl.{g,theta,phi}.*``; ``W.0``/``W.1`` -> ``out.conv``/``out.bn``
  (same for ``PNL``)
* ``DEE.FC1{1,2,3}.*`` / ``DEE.FC1.*``      -> ``dee.branch1.convs.{0,1,2}.*`` / ``dee.branch1.fuse.*``
  (``FC2*`` -> ``branch2``)
* ``bottleneck.*``, ``classifier.*``        -> unchanged

Ignored on purpose (the authors' modules hold whole ResNet-50s of which their
forward uses only a part): ``visible_module.visible.layer1-4.*`` and
``thermal_module.thermal.layer1-4.*`` (and any ``fc.*``), ``base_resnet.base.conv1/bn1.*``,
and for the regdb variant ``base_resnet.base.layer4.*``.  Everything else must map
one-to-one onto our model; leftovers are reported as unexpected keys.
"""

from __future__ import annotations

import os
import re
from typing import Any, Callable, Literal, Mapping

import torch

from vireid.errors import CheckpointError
from vireid.models.authors import AuthorsFormat, register_authors_format
from vireid.models.deen import DEEN
from vireid.models.weights import load_state_dict_strict, strip_module_prefix

_STEMS = {"visible_module.visible.": "stem_visible.", "thermal_module.thermal.": "stem_infrared."}
_DEE = re.compile(r"^DEE\.FC([12])([123])?\.(.+)$")
_MFA = re.compile(r"^MFA([123])\.(CNL|PNL)\.(g|theta|phi|W\.0|W\.1)\.(.+)$")


def map_official_key(key: str, variant: str = "default") -> str | None:
    """Our name for one of the authors' state-dict keys; ``None`` if it is an unused key we ignore.

    Keys that match no known pattern are returned unchanged (and later reported as unexpected).
    """
    for theirs, ours in _STEMS.items():
        if key.startswith(theirs):
            rest = key[len(theirs) :]
            return ours + rest if rest.split(".")[0] in ("conv1", "bn1") else None
    if key.startswith("base_resnet.base."):
        rest = key[len("base_resnet.base.") :]
        top = rest.split(".")[0]
        if top in ("conv1", "bn1", "fc") or (variant == "regdb" and top == "layer4"):
            return None
        return "backbone." + rest
    m = _MFA.match(key)
    if m:
        k, block, proj, param = m.groups()
        proj = {"W.0": "out.conv", "W.1": "out.bn"}.get(proj, proj)
        return f"mfa{k}.{block.lower()}.{proj}.{param}"
    m = _DEE.match(key)
    if m:
        branch, conv, param = m.groups()
        return f"dee.branch{branch}." + (f"convs.{int(conv) - 1}" if conv else "fuse") + f".{param}"
    return key


def map_state_dict(
    state: Mapping[str, torch.Tensor], map_key: Callable[[str], str | None]
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """``(mapped, ignored_keys)``: every key (``module.`` prefix of DataParallel stripped) renamed
    by ``map_key`` (``None``: ignored); two keys mapping to one name is an error."""
    mapped: dict[str, torch.Tensor] = {}
    ignored: list[str] = []
    for key, value in strip_module_prefix(state).items():
        new = map_key(key)
        if new is None:
            ignored.append(key)
        elif new in mapped:
            raise CheckpointError(f"two checkpoint keys map to {new!r} (duplicate {key!r})")
        else:
            mapped[new] = value
    return mapped, ignored


def convert_official_state_dict(
    state: Mapping[str, torch.Tensor], variant: str = "default"
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Map the authors' state dict to our names: ``(mapped, ignored_keys)``."""
    return map_state_dict(state, lambda key: map_official_key(key, variant))


def load_official_deen(
    path: str | os.PathLike,
    variant: str = "default",
    num_classes: int | None = None,
    *,
    base_channels: int | None = None,
) -> DEEN:
    """Build our :class:`DEEN` from the authors' ``*.t`` checkpoint (strict, eval mode).

    ``num_classes`` is inferred from ``classifier.weight`` (given, it must agree);
    ``base_channels`` from the stem conv (64 for their released models).  The
    checkpoint's ``cmc``/``mAP``/``mINP``/``epoch`` entries are kept in
    ``model.official_info``.  Any missing, unexpected or shape-mismatched key
    raises :class:`CheckpointError` listing them.
    """
    from vireid.models.authors import read_authors_file

    state, info = read_authors_file(path)
    return _deen_from_state(state, info, path, variant=variant, num_classes=num_classes, base_channels=base_channels)


def _deen_from_state(
    state: Mapping[str, torch.Tensor],
    info: dict[str, Any],
    path: str | os.PathLike,
    *,
    variant: Literal["default", "regdb"] | None = None,
    num_classes: int | None = None,
    base_channels: int | None = None,
) -> DEEN:
    """The DEEN format's loader (:mod:`vireid.models.authors`): ``variant`` inferred from the keys
    when not given (the RegDB variant has no MFA3 block)."""
    if variant is None:
        variant = "default" if any(k.startswith("MFA3.") for k in state) else "regdb"
    if variant not in ("default", "regdb"):
        raise CheckpointError(f"unknown DEEN variant {variant!r}; expected 'default' or 'regdb'")
    mapped, _ = convert_official_state_dict(state, variant)
    cls_w = mapped.get("classifier.weight")
    stem_w = mapped.get("stem_visible.conv1.weight")
    if cls_w is None or cls_w.dim() != 2 or stem_w is None or stem_w.dim() != 4:
        raise CheckpointError(
            f"{path}: not a DEEN checkpoint (no classifier.weight / visible_module.visible.conv1.weight)"
        )
    has_mfa3 = any(k.startswith("mfa3.") for k in mapped)
    if has_mfa3 != (variant == "default"):
        other = "regdb" if variant == "default" else "default"
        raise CheckpointError(
            f"{path}: this looks like a DEEN {other!r} checkpoint ("
            + ("no" if not has_mfa3 else "has")
            + f" MFA3 block); load it with variant={other!r}"
        )
    inferred = int(cls_w.shape[0])
    if num_classes is not None and int(num_classes) != inferred:
        raise CheckpointError(f"{path}: classifier has {inferred} classes, but num_classes={num_classes} was given")
    width = int(stem_w.shape[0]) if base_channels is None else base_channels
    layers = [sum(1 for k in mapped if re.match(rf"^backbone\.layer{i}\.\d+\.conv1\.weight$", k)) for i in (1, 2, 3, 4)]
    if variant == "regdb":
        layers[3] = 3  # not in a regdb model; any value builds the same (3-stage) network
    if min(layers) < 1:
        raise CheckpointError(f"{path}: backbone stages missing for variant {variant!r} (blocks per stage {layers})")
    model = DEEN(inferred, variant, base_channels=width, layers=layers)
    load_state_dict_strict(model, mapped, source=f"{path} (variant {variant!r})")
    model.official_info = info
    return model.eval()


#: the DEEN authors' keys: MFA and DEE blocks (AGW's have neither)
DEEN_PREFIXES = ("MFA1.", "MFA2.", "MFA3.", "DEE.")

register_authors_format(
    "deen",
    AuthorsFormat("DEEN", lambda keys: any(k.startswith(DEEN_PREFIXES) for k in keys), _deen_from_state),
)

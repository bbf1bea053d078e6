"""Load the AGW authors' checkpoints (``*.t`` of ZYK100/LLCM ``AGW/`` or mangye16/Cross-Modal-Re-ID-baseline).

Their ``train.py`` saves ``torch.save({'net': state_dict, 'cmc': ndarray, 'mAP': np.float64,
'mINP': np.float64, 'epoch': int}, '*_best.t')``; it is read with ``torch.load(weights_only=True)``
allowing only numpy's array/scalar types, as for DEEN (:mod:`vireid.models.official`).

Name mapping (theirs -> ours); a ``module.`` prefix (DataParallel) is stripped:

* stems and trunk exactly as for DEEN (:func:`vireid.models.official.map_official_key`):
  ``visible_module.visible.{conv1,bn1}`` -> ``stem_visible``, ``thermal_module.thermal.{conv1,bn1}``
  -> ``stem_infrared``, ``base_resnet.base.layerN`` -> ``backbone.layerN``;
* ``NL_k.j.{theta,phi}.*``  -> ``nlk.j.{theta,phi}.*``; ``NL_k.j.g.0.*`` -> ``nlk.j.g.*``;
  ``NL_k.j.W.0.*`` / ``NL_k.j.W.1.*`` -> ``nlk.j.out.conv.*`` / ``nlk.j.out.bn.*``;
* ``bottleneck.*``, ``classifier.*`` -> unchanged.

Ignored on purpose (never used by their forward): the whole ResNet-50s inside their stem modules
(``visible_module.visible.layer1-4.*``, ``thermal_module.thermal.layer1-4.*``) and their trunk's
``base_resnet.base.conv1/bn1.*``.  Everything else must map one-to-one onto our model.

``--method agw`` and ``--method base`` checkpoints differ by the non-local keys only (GeM has no
parameters); as their ``train.py`` turns non-local and GeM on or off together, ``gem`` follows the
presence of ``NL_*`` keys unless given.
"""

from __future__ import annotations

import os
import re
from typing import Any, Mapping

import torch

from vireid.errors import CheckpointError
from vireid.models.agw import AGW
from vireid.models.authors import AuthorsFormat, register_authors_format
from vireid.models.official import DEEN_PREFIXES, map_official_key, map_state_dict
from vireid.models.weights import load_state_dict_strict

_NL = re.compile(r"^NL_([1-4])\.(\d+)\.(g\.0|theta|phi|W\.0|W\.1)\.(.+)$")
_NL_NAMES = {"g.0": "g", "theta": "theta", "phi": "phi", "W.0": "out.conv", "W.1": "out.bn"}


def map_official_agw_key(key: str) -> str | None:
    """Our name for one of the AGW authors' keys; ``None`` for an unused key we ignore."""
    m = _NL.match(key)
    if m:
        stage, j, proj, param = m.groups()
        return f"nl{stage}.{j}.{_NL_NAMES[proj]}.{param}"
    return map_official_key(key, "default")


def convert_official_agw_state_dict(state: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Map the AGW authors' state dict to our names: ``(mapped, ignored_keys)``."""
    return map_state_dict(state, map_official_agw_key)


def load_official_agw(path: str | os.PathLike, num_classes: int | None = None, *, gem: bool | None = None) -> AGW:
    """Build our :class:`AGW` from the authors' ``*.t`` checkpoint (strict, eval mode).

    ``num_classes`` is inferred from ``classifier.weight`` (given, it must agree); the widths,
    blocks per stage and non-local blocks per stage from the keys.  ``gem`` defaults to
    "non-local blocks present" (their ``--method agw`` vs ``base``).  The checkpoint's
    ``cmc``/``mAP``/``mINP``/``epoch`` entries are kept in ``model.official_info``.
    """
    from vireid.models.authors import read_authors_file

    state, info = read_authors_file(path)
    return _agw_from_state(state, info, path, num_classes=num_classes, gem=gem)


def _agw_from_state(
    state: Mapping[str, torch.Tensor],
    info: dict[str, Any],
    path: str | os.PathLike,
    *,
    num_classes: int | None = None,
    gem: bool | None = None,
) -> AGW:
    """The AGW format's loader (:mod:`vireid.models.authors`)."""
    if any(k.startswith(DEEN_PREFIXES) for k in state):
        raise CheckpointError(
            f"{path}: this is a DEEN checkpoint (it has MFA/DEE blocks); load it with vireid.models.load_official_deen"
        )
    mapped, _ = convert_official_agw_state_dict(state)
    cls_w = mapped.get("classifier.weight")
    stem_w = mapped.get("stem_visible.conv1.weight")
    if cls_w is None or cls_w.dim() != 2 or stem_w is None or stem_w.dim() != 4:
        raise CheckpointError(
            f"{path}: not an AGW checkpoint (no classifier.weight / visible_module.visible.conv1.weight)"
        )
    inferred = int(cls_w.shape[0])
    if num_classes is not None and int(num_classes) != inferred:
        raise CheckpointError(f"{path}: classifier has {inferred} classes, but num_classes={num_classes} was given")
    layers = [len({k.split(".")[2] for k in mapped if k.startswith(f"backbone.layer{i}.")}) for i in (1, 2, 3, 4)]
    nl = [len({k.split(".")[1] for k in mapped if k.startswith(f"nl{i}.")}) for i in (1, 2, 3, 4)]
    if min(layers) < 1:
        raise CheckpointError(f"{path}: backbone stages missing (blocks per stage {layers})")
    non_local = any(nl)
    g_key = next((f"nl{i + 1}.0.g.weight" for i, n in enumerate(nl) if n), None)
    inter = int(mapped[g_key].shape[0]) if g_key in mapped else 1
    model = AGW(
        inferred,
        non_local=non_local,
        gem=non_local if gem is None else bool(gem),
        base_channels=int(stem_w.shape[0]),
        layers=layers,
        non_local_layers=nl if non_local else (0, 2, 3, 0),
        nl_inter_channels=inter,
    )
    load_state_dict_strict(model, mapped, source=str(path))
    model.official_info = info
    return model.eval()


register_authors_format(
    "agw", AuthorsFormat("AGW", lambda keys: not any(k.startswith(DEEN_PREFIXES) for k in keys), _agw_from_state)
)

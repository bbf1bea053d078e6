"""The modality codes shared by every model, loss and expansion module: 1 visible, 2 infrared,
and the names a user may give them (:func:`modality_to_modal`: any case, with aliases).

A model's ``modal`` argument also takes 0 (:data:`MODAL_BOTH`: a visible batch, then an
infrared batch).  This is a leaf module (torch and :mod:`vireid.errors` only), so a loss can
check modality labels without importing :mod:`vireid.models`; :mod:`vireid.models.base` and
:mod:`vireid.models.expansion.base` re-export these names.
"""

from __future__ import annotations

from torch import Tensor

from vireid.errors import ShapeError

MODAL_BOTH, MODAL_VISIBLE, MODAL_INFRARED = 0, 1, 2

#: accepted names of each modality (case-insensitive), canonical name first
MODALITY_ALIASES = {MODAL_VISIBLE: ("visible", "vis", "rgb"), MODAL_INFRARED: ("infrared", "ir", "nir", "thermal")}


def modality_to_modal(modality: str | int) -> int:
    """``"visible"`` -> 1, ``"infrared"`` -> 2, any case, with the aliases of :data:`MODALITY_ALIASES`
    (ints 1/2 pass through)."""
    if isinstance(modality, int) and not isinstance(modality, bool) and modality in MODALITY_ALIASES:
        return modality
    if isinstance(modality, str):
        name = modality.strip().lower()
        for modal, names in MODALITY_ALIASES.items():
            if name in names:
                return modal
    accepted = "; ".join(f"{names[0]}: {', '.join(names)} (or {modal})" for modal, names in MODALITY_ALIASES.items())
    raise ShapeError(f"unknown modality {modality!r}; accepted, in any case -- {accepted}")


def check_modality(modality: Tensor, batch: int) -> None:
    """Raise :class:`ShapeError` unless ``modality`` is an integer (B,) tensor of 1 (visible) / 2 (infrared)."""
    if not isinstance(modality, Tensor) or modality.shape != (batch,) or modality.is_floating_point():
        got = f"{tuple(modality.shape)} {modality.dtype}" if isinstance(modality, Tensor) else type(modality).__name__
        raise ShapeError(
            f"expansion: expected modality as an integer tensor of shape ({batch},) "
            f"with {MODAL_VISIBLE} = visible, {MODAL_INFRARED} = infrared; got {got}"
        )
    if batch and bool(((modality != MODAL_VISIBLE) & (modality != MODAL_INFRARED)).any()):
        raise ShapeError(
            f"expansion: modality values must be {MODAL_VISIBLE} (visible) or {MODAL_INFRARED} "
            f"(infrared), got {sorted(set(modality.tolist()))}"
        )

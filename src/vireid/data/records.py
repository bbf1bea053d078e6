"""Plain dataset records shared by every reader, protocol and loader."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Modality = Literal["visible", "infrared"]
MODALITIES: tuple[str, str] = ("visible", "infrared")


@dataclass(frozen=True)
class Record:
    """One image: absolute path, person id, camera id and modality.

    ``pid`` is the dataset's own identity number (not relabelled); training code
    relabels to 0..C-1 itself.  ``camid`` is the dataset's camera number.
    """

    path: str
    pid: int
    camid: int
    modality: Modality

"""The rules of each evaluation protocol: which gallery items a query may match, trials, directions.

One :class:`EvalProtocol` per protocol; the metrics (:func:`vireid.evaluation.evaluate`), the
dataset readers' evaluation splits and every rank-list picture ask these objects, so a picture
shows the ranking the metrics scored.  The rules follow the AGW/DEEN ``eval_metrics.py``
(``eval_sysu``, ``eval_regdb``, ``eval_llcm``) and the authors' ``test.py``:

* ``sysu`` (Wu et al., ICCV 2017): a query from camera 3 ignores every gallery image of
  camera 2, whatever its identity (cameras 2 and 3 share a room); the CMC counts each identity
  at its first occurrence.  Ten trials (gallery draws seeded 0..9); infrared -> visible only.
* ``regdb`` (Nguyen et al., Sensors 2017): nothing is ignored; the standard CMC.  Trials 1..10
  are ten train/test splits, so a model is evaluated on the split it was trained on; both
  directions, visible -> infrared first (DEEN's default).  The published columns are not those
  splits as we embed them: DEEN's ``test.py`` (lines 356-357, 370-371; ``test_mode = [2, 1]``)
  embeds the thermal images with the visible stem and the visible images with the thermal stem,
  in both branches of its ``--tvsearch``.  Both directions are also reported that way, as
  ``visible_to_infrared_paper`` and ``infrared_to_visible_paper``, and are the paper's columns;
  they are not averaged into the protocol's mean.
* ``llcm`` (Zhang & Wang, CVPR 2023): a query ignores gallery images of its own identity from
  its own camera; de-duplicated CMC.  Ten trials; both directions, infrared -> visible first.
  The published visible -> infrared column is not that split: the authors' ``test.py``
  (``test_mode = [2, 1]``) scores the *transposed* distance matrix, so the trial's sampled
  infrared images are the queries and every visible test image the gallery.  That orientation
  is reported too, as ``visible_to_infrared_paper`` (:data:`PAPER_DIRECTION`), and is the
  paper's VIS -> IR column; it is not averaged into the protocol's mean.
* ``plain``: nothing is ignored, the standard CMC, one trial -- for descriptors that record no
  protocol (e.g. a folder embedded with ``vireid extract``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vireid.core.registry import registry
from vireid.errors import VireidError

DIRECTIONS: tuple[str, str] = ("infrared_to_visible", "visible_to_infrared")
#: a direction as the authors' ``test.py`` computes the paper's column (the suffix of its name)
PAPER_SUFFIX = "_paper"
#: LLCM's visible -> infrared as published: sampled infrared queries against all visible images;
#: RegDB's: visible queries through the thermal stem, thermal gallery through the visible stem
PAPER_DIRECTION = "visible_to_infrared" + PAPER_SUFFIX
#: RegDB's thermal -> visible as published: thermal queries through the visible stem, the
#: visible gallery through the thermal stem
PAPER_IR_TO_VIS = "infrared_to_visible" + PAPER_SUFFIX


@dataclass(frozen=True)
class EvalProtocol:
    """The rules of one protocol.

    Attributes:
        name: the protocol's name.
        hidden_cameras: ``(query camera, gallery camera)`` pairs: gallery items of that camera
            are ignored for queries of that camera, whatever their identity.
        same_camera_same_identity: ignore gallery items of the query's identity seen by the
            query's camera.
        dedup_cmc: the CMC counts each gallery identity at its first occurrence (AP and INP
            never de-duplicate).
        trials: the official trials.
        trial_is_split: a trial is its own train/test split (evaluate the trained one only).
        directions: the search directions, the default first (the authors' in-training test
            direction, ``DEEN/train.py`` ``test_mode``).
        extra_directions: directions the protocol also knows, reported by the full evaluation
            when a paper column names them (by default all), never averaged into its mean.
        paper_columns: ``(published column, our direction whose numbers it is)`` pairs.
        titles: ``(direction, table title)`` pairs where a direction's name needs explaining.
    """

    name: str
    hidden_cameras: tuple[tuple[int, int], ...] = ()
    same_camera_same_identity: bool = False
    dedup_cmc: bool = False
    trials: tuple[int, ...] = (0,)
    trial_is_split: bool = False
    directions: tuple[str, ...] = DIRECTIONS
    extra_directions: tuple[str, ...] = ()
    paper_columns: tuple[tuple[str, str], ...] = ()
    titles: tuple[tuple[str, str], ...] = ()

    @property
    def reported_directions(self) -> tuple[str, ...]:
        """What a full evaluation reports by default: the directions, then the extra ones."""
        return self.directions + self.extra_directions

    @property
    def known_directions(self) -> tuple[str, ...]:
        """Every direction a split of this protocol may have."""
        return self.directions + self.extra_directions

    def title(self, direction: str) -> str:
        """The table title of ``direction``."""
        return dict(self.titles).get(direction, direction.replace("_", " "))

    @property
    def needs_camids(self) -> bool:
        """Whether the rules depend on camera numbers."""
        return bool(self.hidden_cameras) or self.same_camera_same_identity

    def hidden(self, q_camids: Any, g_camids: Any) -> np.ndarray | None:
        """Pairs ignored whatever the identity (broadcast of the two camera arrays), or ``None``
        when the protocol hides no camera."""
        if not self.hidden_cameras:
            return None
        q, g = np.asarray(q_camids), np.asarray(g_camids)
        out = np.zeros(np.broadcast_shapes(q.shape, g.shape), dtype=bool)
        for qc, gc in self.hidden_cameras:
            out |= (q == qc) & (g == gc)
        return out

    def discarded(self, same_identity: Any, q_camids: Any, g_camids: Any) -> np.ndarray:
        """Pairs a query may not be matched against (broadcast of the three arrays)."""
        same = np.asarray(same_identity, dtype=bool)
        q, g = np.asarray(q_camids), np.asarray(g_camids)
        hidden = self.hidden(q, g)
        out = np.zeros(np.broadcast_shapes(same.shape, q.shape, g.shape), dtype=bool)
        if hidden is not None:
            out |= hidden
        if self.same_camera_same_identity:
            out |= same & (q == g)
        return out

    def keep(self, q_pids: Any, q_camids: Any, g_pids: Any, g_camids: Any) -> np.ndarray:
        """``(num_query, num_gallery)`` booleans: True where query ``i`` may match gallery item ``j``."""
        qp, gp = np.asarray(q_pids).reshape(-1), np.asarray(g_pids).reshape(-1)
        if not self.needs_camids:
            return np.ones((len(qp), len(gp)), dtype=bool)
        if q_camids is None or g_camids is None:
            raise VireidError(f"protocol {self.name!r} needs the camera ids of queries and gallery")
        qc, gc = np.asarray(q_camids).reshape(-1), np.asarray(g_camids).reshape(-1)
        return ~self.discarded(qp[:, None] == gp[None, :], qc[:, None], gc[None, :])


SYSU = EvalProtocol(
    "sysu",
    hidden_cameras=((3, 2),),
    dedup_cmc=True,
    trials=tuple(range(10)),
    directions=("infrared_to_visible",),
    paper_columns=(("infrared_to_visible", "infrared_to_visible"),),
)
REGDB = EvalProtocol(
    "regdb",
    trials=tuple(range(1, 11)),
    trial_is_split=True,
    directions=("visible_to_infrared", "infrared_to_visible"),
    extra_directions=(PAPER_DIRECTION, PAPER_IR_TO_VIS),
    paper_columns=(("visible_to_infrared", PAPER_DIRECTION), ("infrared_to_visible", PAPER_IR_TO_VIS)),
    titles=(
        (
            PAPER_DIRECTION,
            "visible to infrared, as published (the paper's VIS->IR column: DEEN's test.py embeds the "
            "visible queries with the thermal stem and the thermal gallery with the visible stem)",
        ),
        (
            PAPER_IR_TO_VIS,
            "infrared to visible, as published (the paper's IR->VIS column: DEEN's test.py embeds the "
            "thermal queries with the visible stem and the visible gallery with the thermal stem)",
        ),
        ("visible_to_infrared", "visible to infrared (each image through its own modality's stem)"),
        ("infrared_to_visible", "infrared to visible (each image through its own modality's stem)"),
    ),
)
LLCM = EvalProtocol(
    "llcm",
    same_camera_same_identity=True,
    dedup_cmc=True,
    trials=tuple(range(10)),
    directions=("infrared_to_visible", "visible_to_infrared"),
    extra_directions=(PAPER_DIRECTION,),
    paper_columns=(("infrared_to_visible", "infrared_to_visible"), ("visible_to_infrared", PAPER_DIRECTION)),
    titles=(
        (
            PAPER_DIRECTION,
            "visible to infrared, as published (the paper's VIS->IR column: the authors' test.py "
            "transposes the distances, so each trial's sampled infrared images are the queries and "
            "all visible images the gallery)",
        ),
        (
            "visible_to_infrared",
            "visible to infrared (visible queries x sampled infrared gallery; not the paper's VIS->IR column)",
        ),
    ),
)
PLAIN = EvalProtocol("plain")

#: every protocol by name: vireid's four, and those a dataset declares (a plugin's included)
PROTOCOLS = registry("protocol")


def register_protocol(protocol: EvalProtocol) -> EvalProtocol:
    """Make ``protocol`` known by its name (features files, ``vireid evaluate --protocol``)."""
    found = PROTOCOLS.entry_of(protocol)
    return found.obj if found is not None else PROTOCOLS.add(protocol.name, protocol).obj


for _rules in (SYSU, REGDB, LLCM, PLAIN):
    register_protocol(_rules)


def get_protocol(protocol: str | EvalProtocol) -> EvalProtocol:
    """The :class:`EvalProtocol` named ``protocol`` (an object is returned as is)."""
    if isinstance(protocol, EvalProtocol):
        return protocol
    found = PROTOCOLS.find(protocol)
    if found is None:
        raise VireidError(f"unknown evaluation protocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}")
    return found.obj

"""Custom data from CSV manifests, so users can bring their own cameras without a reader.

A manifest is a CSV file with a header naming the columns ``path,pid,camid,modality``
(any order, each once; extra columns are ignored, but a row must have as many fields as the
header; a row of empty fields is skipped as a blank line is).
``path`` is relative to the CSV's folder (or absolute); ``modality`` is ``visible`` or
``infrared``, in any case, or an alias (``vis``/``rgb``, ``ir``/``nir``/``thermal``).  An image
listed twice is an error naming both lines (a duplicate would weigh that image twice in
training and count it twice in the metrics).

A manifest dataset is a folder with ``train.csv`` and/or ``query.csv`` +
``gallery.csv`` (names configurable).  There is one fixed split (trial 0); its
``protocol`` is ``"llcm"`` by default -- the generic re-ID rule that discards
gallery images of the query's identity seen by the query's camera -- or
``"regdb"`` (no camera filtering) / ``"sysu"`` (any registered protocol's rules).  An image in the
training manifest and in a test manifest is an error naming both lines; an identity in both is a
warning (a leak, unless the evaluation of seen identities is meant).
"""

from __future__ import annotations

import csv
import os
import warnings
from pathlib import Path
from typing import Annotated, Iterable, Iterator

from vireid.core.params import Registered
from vireid.data.datasets._index import check_disjoint, check_root, parse_id
from vireid.data.datasets.base import VIReIDDataset, register_dataset
from vireid.data.protocols import EvalSplit
from vireid.data.records import Record
from vireid.errors import ConfigError, DatasetError, ShapeError, VireidWarning, format_location
from vireid.evaluation.protocols import PLAIN, PROTOCOLS, get_protocol
from vireid.modality import MODAL_INFRARED, MODAL_VISIBLE, modality_to_modal
from vireid.utils.paths import file_problem

COLUMNS = ("path", "pid", "camid", "modality")
_MODALITIES = {MODAL_VISIBLE: "visible", MODAL_INFRARED: "infrared"}


def read_manifest(path: str | os.PathLike) -> list[Record]:
    """Records of one manifest CSV; every malformed row is reported with its line."""
    return [r for r, _ in read_manifest_lines(path)]


def read_manifest_lines(path: str | os.PathLike) -> list[tuple[Record, int]]:
    """``(record, line)`` of every row of one manifest CSV (see :func:`read_manifest`)."""
    path = Path(path).expanduser().resolve()
    problem = file_problem(path, "manifest file")
    if problem:
        raise DatasetError(f"{path}: {problem} (expected a CSV with header {','.join(COLUMNS)})")
    base = path.parent
    records: list[tuple[Record, int]] = []
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:  # -sig: Excel starts its CSV with a BOM
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise DatasetError(f"{path}: empty manifest (expected a header {','.join(COLUMNS)})")
            names = [h.strip().lower() for h in header]
            missing = [c for c in COLUMNS if c not in names]
            if missing:
                raise DatasetError(
                    f"{format_location(path, 1)}: header must name the columns "
                    f"{','.join(COLUMNS)}; missing {','.join(missing)}"
                )
            twice = sorted({c for c in COLUMNS if names.count(c) > 1})
            if twice:
                raise DatasetError(
                    f"{format_location(path, 1)}: the header names the column {','.join(twice)} twice; "
                    "which one holds the value?"
                )
            col = {c: names.index(c) for c in COLUMNS}
            seen: dict[str, int] = {}
            for row in reader:
                line = reader.line_num
                if not row or all(not f.strip() for f in row):
                    continue
                if len(row) > len(header):
                    raise DatasetError(
                        f"{format_location(path, line)}: {len(row)} fields, but the header names "
                        f"{len(header)} ({','.join(header)}); is a comma in a path unquoted?"
                    )
                rec = _parse_row(row, col, base, path, line)
                if rec.path in seen:
                    raise DatasetError(
                        f"{format_location(path, line)}: {rec.path} is listed twice (first on line "
                        f"{seen[rec.path]}); each image must appear once"
                    )
                seen[rec.path] = line
                records.append((rec, line))
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not a UTF-8 text file ({exc.reason})") from None
    except csv.Error as exc:
        raise DatasetError(f"{path}: malformed CSV ({exc})") from None
    if not records:
        raise DatasetError(f"{path}: manifest lists no images")
    return records


def _parse_row(row: list[str], col: dict[str, int], base: Path, path: Path, line: int) -> Record:
    where = format_location(path, line)
    if len(row) <= max(col.values()):
        raise DatasetError(f"{where}: expected {len(col)} or more fields ({','.join(COLUMNS)}), got {len(row)}")
    rel = row[col["path"]].strip()
    if not rel:
        raise DatasetError(f"{where}: empty path")
    values = {}
    for key in ("pid", "camid"):
        values[key] = parse_id(row[col[key]], key, where)
    try:
        modality = _MODALITIES[modality_to_modal(row[col["modality"]])]
    except ShapeError as exc:
        raise DatasetError(f"{where}: {exc}") from None
    full = Path(rel) if os.path.isabs(rel) else base / rel
    problem = file_problem(full, "image file")  # when the manifest is read, naming its line
    if problem:
        raise DatasetError(f"{where}: {rel!r}: {problem}")
    return Record(os.path.normpath(full), values["pid"], values["camid"], modality)  # type: ignore[arg-type]


def _direction(query: list[Record], gallery: list[Record]) -> str:
    qm, gm = {r.modality for r in query}, {r.modality for r in gallery}
    if qm == {"infrared"} and gm == {"visible"}:
        return "infrared_to_visible"
    if qm == {"visible"} and gm == {"infrared"}:
        return "visible_to_infrared"
    return "mixed"


@register_dataset("manifest")
class ManifestDataset(VIReIDDataset):
    """A dataset described by CSV manifests in ``root``.

    Args:
        root: folder holding the manifests.
        train, query, gallery: manifest file names inside ``root``.
        protocol: the rules the split is scored with (``"llcm"``, ``"regdb"``, ``"sysu"`` or
            another registered protocol); one fixed split, so one trial.
    """

    title = "manifest"
    protocol = PLAIN  # one fixed split (trial 0); its scoring rules are the ``protocol`` option's
    layout = "train.csv and/or query.csv + gallery.csv"

    def __init__(
        self,
        root: str | os.PathLike,
        *,
        train: str = "train.csv",
        query: str = "query.csv",
        gallery: str = "gallery.csv",
        protocol: Annotated[str, Registered(PROTOCOLS)] = "llcm",
    ) -> None:
        if protocol not in PROTOCOLS:
            raise ConfigError(f"manifest protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
        self.root = check_root(root, "manifest", f"a folder with {train} and/or {query} + {gallery}")
        self.rules = get_protocol(protocol)
        self._files = {"train": self.root / train, "query": self.root / query, "gallery": self.root / gallery}
        present = {k for k, p in self._files.items() if p.is_file()}
        if not present:
            raise DatasetError(f"{self.root}: no manifest found (expected {train} and/or {query} + {gallery})")
        if ("query" in present) != ("gallery" in present):
            missing = "gallery" if "query" in present else "query"
            raise DatasetError(
                f"{self._files[missing]}: missing {missing} manifest ({query} and {gallery} come together)"
            )
        lines = {k: read_manifest_lines(self._files[k]) for k in sorted(present)}
        self._records = {k: [r for r, _ in rows] for k, rows in lines.items()}
        if "train" in lines:
            for split in ("query", "gallery"):
                if split in lines:
                    check_disjoint(
                        [(self._files[k], [(r.path, n) for r, n in lines[k]]) for k in ("train", split)],
                        what="image",
                        why="a test image must not be a training image",
                    )
            seen = {r.pid for r in self._records["train"]} & {
                r.pid for k in ("query", "gallery") for r in self._records.get(k, [])
            }
            if seen:
                warnings.warn(
                    f"{self._files['train']}: {len(seen)} identit{'y is' if len(seen) == 1 else 'ies are'} in both "
                    f"the training and the test manifests (e.g. {sorted(seen)[0]}); "
                    "their test results are of seen people",
                    VireidWarning,
                    stacklevel=2,
                )

    def _get(self, key: str) -> list[Record]:
        if key not in self._records:
            raise DatasetError(f"{self._files[key]}: missing {key} manifest")
        return list(self._records[key])

    @property
    def train(self) -> list[Record]:
        return self._get("train")

    def eval_splits(self, trials: Iterable[int] = (0,), directions: Iterable[str] | None = None) -> Iterator[EvalSplit]:
        """The single query/gallery split (``trials`` and ``directions`` are not used)."""
        query, gallery = self._get("query"), self._get("gallery")
        yield EvalSplit(
            query=query,
            gallery=gallery,
            protocol=self.rules.name,
            trial=0,
            direction=_direction(query, gallery),
        )

    def __repr__(self) -> str:
        return f"ManifestDataset(root={str(self.root)!r}, protocol={self.rules.name!r})"

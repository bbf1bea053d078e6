"""Argument helpers shared by the commands.  Private to :mod:`vireid.cli`.

:func:`declare`: every command (every leaf of the parser) says what it reads and writes; the
output policy (:mod:`vireid.utils.outputs`) takes its inputs from there and the command gets
``--overwrite`` with its first output.  ``tests/cli/test_outputs_walk.py`` walks the parser and
runs each command's ``example`` against the policy; a command without a declaration fails it.
"""

from __future__ import annotations

import argparse
import os
import re
from dataclasses import dataclass, field
from typing import Callable, Mapping

from vireid.errors import VireidError
from vireid.utils.kinds import Kind

#: a ``key=value`` config override on the command line
OVERRIDE = re.compile(r"^[A-Za-z_][\w.+-]*=")


@dataclass(frozen=True)
class Declaration:
    """What a command reads and writes.

    ``outputs``: option dest -> the kind it writes (:mod:`vireid.utils.kinds`); ``inputs``: option
    dest -> what the path is ("checkpoint"), never to be written; ``adds_outputs``: flags that add
    files to the outputs (``test --viz``); ``example``: a minimal valid invocation, with
    placeholders in braces (``{checkpoint}``, ``{out}``...) filled by the tests; ``rerun``: the
    options a second run into the same outputs needs (``synth``: ``--force``); ``writes``: for a
    command that writes outside its options (``weights download``: torch.hub's cache), what;
    ``not_outputs``: options whose names sound like outputs but are not (``report --targets``:
    which published rows to add), so that the walk does not ask for their declaration;
    ``repeatable``: input options taking several files where one may come twice (``search
    --query``: each query is answered on its own); any other is refused a file given twice;
    ``names``: option dest -> how the user writes it (``--gallery``; a positional's metavar).
    """

    outputs: Mapping[str, Kind] = field(default_factory=dict)
    inputs: Mapping[str, str] = field(default_factory=dict)
    adds_outputs: tuple[str, ...] = ()
    example: tuple[str, ...] = ()
    rerun: tuple[str, ...] = ()
    writes: str = ""
    not_outputs: tuple[str, ...] = ()
    repeatable: tuple[str, ...] = ()
    names: Mapping[str, str] = field(default_factory=dict)


OVERWRITE_HELP = (
    "replace files at the output paths that vireid did not write (never a dataset, an input, or a "
    "vireid file of another kind)"
)


def declare(
    p: argparse.ArgumentParser,
    *,
    outputs: Mapping[str, Kind] | None = None,
    inputs: Mapping[str, str] | None = None,
    adds_outputs: tuple[str, ...] = (),
    example: tuple[str, ...] | list[str] = (),
    rerun: tuple[str, ...] = (),
    writes: str = "",
    not_outputs: tuple[str, ...] = (),
    overwrite_help: str = OVERWRITE_HELP,
    repeatable: tuple[str, ...] = (),
) -> Declaration:
    """Attach the command's :class:`Declaration` to its parser (and ``--overwrite`` when it writes)."""
    decl = Declaration(
        dict(outputs or {}),
        dict(inputs or {}),
        tuple(adds_outputs),
        tuple(example),
        rerun,
        writes,
        tuple(not_outputs),
        tuple(repeatable),
        {a.dest: a.option_strings[-1] if a.option_strings else str(a.metavar or a.dest).upper() for a in p._actions},
    )
    for action in p._actions:  # a path given as '' is refused as such (pathlib would read it as '.')
        if action.dest in decl.outputs or action.dest in decl.inputs:
            action.type = _non_empty(action.type)
    if decl.outputs:
        p.add_argument("--overwrite", action="store_true", help=overwrite_help)
    p.set_defaults(_declaration=decl)
    return decl


def _non_empty(convert):
    """The argparse type of a path option: ``convert`` (or the text itself) of the path with ``~``
    expanded (the shell leaves ``--out=~/x`` and a quoted ``'~/x'`` as typed), never for ''."""

    def path(text: str):
        if not text:
            raise argparse.ArgumentTypeError("expected a path, got ''")
        text = os.path.expanduser(text)
        return convert(text) if convert is not None else text

    path.__name__ = getattr(convert, "__name__", "path")
    return path


def input_size(text: str) -> tuple[int, int]:
    """``"384x144"`` -> (384, 144)."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW (e.g. 384x144), got {text!r}") from None
    if h < 1 or w < 1:
        raise argparse.ArgumentTypeError(f"sizes must be positive, got {text!r}")
    return h, w


def finite(text: str) -> float:
    """A float option: any finite number (``nan`` and ``inf`` parse as floats but mean nothing here)."""
    import math

    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return v


def positive(text: str) -> float:
    """A float option that must be > 0 (and finite)."""
    v = finite(text)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return v


def integer(low: int, high: int | None = None) -> Callable[[str], int]:
    """An integer option in ``[low, high]``: argparse names the option in the refusal
    (``argument --nprobe: expected an integer >= 1, got '0'``), before any library sees it."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if v < low or (high is not None and v > high):
            allowed = f">= {low}" if high is None else f"between {low} and {high}"
            raise argparse.ArgumentTypeError(f"expected an integer {allowed}, got {text!r}")
        return v

    parse.__name__ = f"integer_{low}_{high}"
    parse.low, parse.high = low, high  # type: ignore[attr-defined]  # read by the fuzzer's grammar
    return parse


def seed(text: str) -> int:
    """A seed option: an integer in [0, 2^63), what numpy and torch take (as ``train.seed``)."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not 0 <= v < 2**63:
        raise argparse.ArgumentTypeError(f"a seed must be >= 0 and < 2^63, got {v}")
    return v


def modality(text: str) -> str:
    """``--modality``: any accepted name, any case (``IR``, ``thermal``, ``RGB``) -> visible | infrared."""
    from vireid.inference.model import modality_name

    try:
        return modality_name(text)
    except VireidError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_model_args(p: argparse.ArgumentParser, checkpoint_required: bool = True) -> None:
    p.add_argument(
        "--checkpoint",
        required=checkpoint_required,
        metavar="CKPT",
        help="run folder, .safetensors checkpoint (engine or Model.save) or an authors' DEEN/AGW .t file",
    )
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    p.add_argument("--batch-size", type=integer(1), default=64, help="images per forward pass (default: 64)")
    p.add_argument(
        "--input-size",
        type=input_size,
        default=None,
        metavar="HxW",
        help="override the checkpoint's input size (default: from its config, else 384x144, the authors')",
    )


def model_from_args(args: argparse.Namespace, checkpoint: str | None = None):
    """The :class:`vireid.inference.InferenceModel` of ``--checkpoint`` (or ``checkpoint``)."""
    from vireid.inference import load_model
    from vireid.inference.model import InputSizeError

    if args.batch_size < 1:
        raise VireidError(f"--batch-size must be >= 1, got {args.batch_size}")
    try:
        return load_model(
            checkpoint or args.checkpoint, args.device, batch_size=args.batch_size, img_size=args.input_size
        )
    except InputSizeError as exc:  # name the options that set what the model cannot take
        given = {"img_size": args.input_size is not None, "batch_size": True}
        names = {"img_size": "--input-size", "batch_size": "--batch-size"}
        opts = [names[p] for p in exc.params if given.get(p)]
        raise VireidError(f"{' and '.join(opts)}: {exc}" if opts else str(exc)) from None

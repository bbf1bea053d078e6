"""The fuzzer's quick profile: generated inputs for every command of ``vireid``'s parser.

Each command (a leaf of the parser, found by walking it) gets :data:`QUICK` cases drawn by
hypothesis from the grammars of :mod:`tests.cli.fuzz` -- configs, overrides, dataset lists,
manifests, checkpoints, features files, index and run folders, images, paths, options, output
situations, the environment -- each run in its own copy of the world in a forked process with a
time limit, and checked: exit 0, or 2 with one line; no traceback; no hang; nothing outside the
command's outputs changed; the user's files intact (:mod:`tests.cli.fuzz.harness`).  The draws
are derandomized (the same cases on every machine, no example database), so a failure here is
reproducible with ``pytest tests/cli/test_fuzz.py -k COMMAND``.  The long profile is
``python -m benchmarks.fuzz --minutes N``.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.cli.fuzz.cases import INPUTS, case, classes, commands
from tests.cli.fuzz.harness import session

#: cases per command in ``make test``
QUICK = int(os.environ.get("VIREID_FUZZ_QUICK", "2"))
#: seconds a case may take before it counts as a hang (generous: the machine may be busy)
TIMEOUT = float(os.environ.get("VIREID_FUZZ_TIMEOUT", "180"))
COMMANDS = commands()


@pytest.fixture(scope="module")
def harness(world, tmp_path_factory):
    with session(world, tmp_path_factory.mktemp("fuzz"), timeout=TIMEOUT) as h:
        yield h


def test_every_input_of_every_command_has_a_grammar():
    """A command whose example reads an input of a new sort fails here until the sort has a grammar."""
    missing = {(c.name, ph) for c in COMMANDS for ph in c.placeholders if ph not in INPUTS}
    assert not missing, f"no grammar (tests/cli/fuzz/cases.py INPUTS) for {sorted(missing)}"
    assert len(COMMANDS) >= 18
    for c in COMMANDS:  # every command gets the classes its declaration allows
        assert {"valid", "option", "usage", "env"} <= set(classes(c))
        assert ("out" in classes(c)) == bool(c.decl.outputs)


@pytest.mark.parametrize("cmd", COMMANDS, ids=[c.name.replace(" ", "-") for c in COMMANDS])
def test_fuzz(cmd, harness):
    @settings(
        max_examples=QUICK,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def one(data):
        outcome = harness.run(cmd, data.draw(case(cmd, harness.world), label="case"))
        assert not outcome.problems, outcome.report()

    one()

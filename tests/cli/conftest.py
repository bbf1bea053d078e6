"""The world of inputs every command runs on in the walks over the parser (built once a session)."""

import pytest

from tests.cli.world import make_world


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    return make_world(tmp_path_factory.mktemp("world"))

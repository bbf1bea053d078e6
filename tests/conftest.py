"""Shared test set-up.

Tests use tiny models, for which torch's intra-op threads only add overhead (and thrash
on a shared 2-core machine): every test runs with one thread, restored afterwards.
"""

import pytest
import torch


@pytest.fixture(autouse=True)
def _single_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

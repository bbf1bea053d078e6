"""The shared modality codes and their check (vireid.modality)."""

import pytest
import torch

from vireid.errors import ShapeError
from vireid.modality import MODAL_BOTH, MODAL_INFRARED, MODAL_VISIBLE, check_modality


def test_codes_are_the_models_and_expansions_codes():
    import vireid.models.base as base
    import vireid.models.expansion.base as expansion

    assert (MODAL_BOTH, MODAL_VISIBLE, MODAL_INFRARED) == (0, 1, 2)
    assert (base.MODAL_BOTH, base.MODAL_VISIBLE, base.MODAL_INFRARED) == (0, 1, 2)
    assert expansion.check_modality is check_modality


def test_check_modality_accepts_labels_and_rejects_the_rest():
    check_modality(torch.tensor([1, 2, 2, 1]), 4)
    check_modality(torch.zeros(0, dtype=torch.long), 0)
    with pytest.raises(ShapeError, match="integer tensor of shape"):
        check_modality(torch.tensor([1.0, 2.0]), 2)
    with pytest.raises(ShapeError, match="integer tensor of shape"):
        check_modality(torch.tensor([1, 2, 1]), 2)
    with pytest.raises(ShapeError, match=r"got \[0, 1\]"):
        check_modality(torch.tensor([0, 1]), 2)  # 0 is the batch-level "both", not a sample's code
    with pytest.raises(ShapeError):
        check_modality([1, 2], 2)

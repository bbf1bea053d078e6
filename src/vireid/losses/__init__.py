"""Losses and regularisers: identity, triplet / WRT, DEEN's CPM and orthogonal loss,
cross-modal InfoNCE, ABD-Net's SVDO (O.F. / O.W.)."""

from vireid.losses.cpm import CPMLoss
from vireid.losses.identity import IdentityLoss
from vireid.losses.infonce import InfoNCE
from vireid.losses.orthogonal import deen_orthogonal_loss
from vireid.losses.svdo import FeatureOrthogonality, WeightOrthogonality, svdo_eigs
from vireid.losses.triplet import (
    TripletLoss,
    WeightedRegularizedTriplet,
    batch_hard_distances,
    euclidean_dist,
    triplet_correct,
    wrt_distances,
)

__all__ = [
    "CPMLoss",
    "FeatureOrthogonality",
    "IdentityLoss",
    "InfoNCE",
    "TripletLoss",
    "WeightOrthogonality",
    "WeightedRegularizedTriplet",
    "batch_hard_distances",
    "deen_orthogonal_loss",
    "euclidean_dist",
    "svdo_eigs",
    "triplet_correct",
    "wrt_distances",
]

"""Training objectives as weighted lists of named loss terms."""

from vireid.objective.objective import Objective, build_objective
from vireid.objective.terms import (
    ArchitectureTerm,
    CPMTerm,
    FeatureOrthogonalityTerm,
    IdentityTerm,
    InfoNCETerm,
    LossBatch,
    Term,
    TripletTerm,
    WeightOrthogonalityTerm,
)

__all__ = [
    "ArchitectureTerm",
    "CPMTerm",
    "FeatureOrthogonalityTerm",
    "IdentityTerm",
    "InfoNCETerm",
    "LossBatch",
    "Objective",
    "Term",
    "TripletTerm",
    "WeightOrthogonalityTerm",
    "build_objective",
]

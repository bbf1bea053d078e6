"""Training objectives as weighted lists of named loss terms (each registered where it is defined)."""

from vireid.objective.objective import Objective, build_objective
from vireid.objective.terms import (
    TERMS,
    ArchitectureTerm,
    CPMTerm,
    FeatureOrthogonalityTerm,
    IdentityTerm,
    InfoNCETerm,
    LossBatch,
    Term,
    TripletTerm,
    WeightOrthogonalityTerm,
    register_term,
)

__all__ = [
    "TERMS",
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
    "register_term",
]

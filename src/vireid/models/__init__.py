"""Models: ResNet-50 and ViT backbones, DEEN, DEEN-ViT, ABD-Net parts, AGW."""

from vireid.models.agw import AGW
from vireid.models.base import EvalOutput, ReIDModel, TrainOutput
from vireid.models.deen import DEEN
from vireid.models.deen_vit import DEENViT
from vireid.models.official import load_official_deen
from vireid.models.official_agw import load_official_agw
from vireid.models.resnet import ResNet, resnet50

__all__ = [
    "AGW",
    "DEEN",
    "DEENViT",
    "EvalOutput",
    "ReIDModel",
    "ResNet",
    "TrainOutput",
    "load_official_agw",
    "load_official_deen",
    "resnet50",
]

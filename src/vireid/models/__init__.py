"""Models: ResNet-50 and ViT backbones, DEEN, DEEN-ViT, ABD-Net parts."""

from vireid.models.base import EvalOutput, ReIDModel, TrainOutput

__all__ = ["EvalOutput", "ReIDModel", "TrainOutput"]

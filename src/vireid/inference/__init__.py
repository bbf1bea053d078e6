"""Using trained models: :func:`load_model` and :class:`InferenceModel` (embed raw images)."""

from vireid.inference.extract import build_gallery_index, embed_records, extract_features_file
from vireid.inference.loading import InferenceConfig, read_checkpoint
from vireid.inference.model import InferenceModel, load_model, modality_name
from vireid.inference.preprocess import preprocess_image
from vireid.inference.sources import collect_records

__all__ = [
    "InferenceConfig",
    "InferenceModel",
    "build_gallery_index",
    "collect_records",
    "embed_records",
    "extract_features_file",
    "load_model",
    "modality_name",
    "preprocess_image",
    "read_checkpoint",
]

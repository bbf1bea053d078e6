"""Cross-modal gallery search: exact top-k by matrix product, faiss for large galleries."""

from vireid.search.exact import Bf16Gallery, exact_topk, prepare_bf16
from vireid.search.index import GalleryIndex, SearchResult

__all__ = ["Bf16Gallery", "GalleryIndex", "SearchResult", "exact_topk", "prepare_bf16"]

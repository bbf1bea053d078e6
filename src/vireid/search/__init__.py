"""Cross-modal gallery search: exact top-k by matrix product, faiss for large galleries."""

from vireid.search.index import GalleryIndex, SearchResult, exact_topk

__all__ = ["GalleryIndex", "SearchResult", "exact_topk"]

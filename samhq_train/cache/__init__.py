"""The embedding cache: the frozen image encoder's features computed once per image (and view),
stored on disk, and served in batches (``batch["features"]``) so that training, validation and
evaluation skip the encoder. Layout and keys: store.py; planning and building: build.py; concept
fine-tuning's trunk maps: concept.py."""

from .datasets import CachedEvalDataset, CachedTrainDataset
from .store import FORMAT_VERSION, STORAGE_DTYPES, CacheError, FeatureStore, check_cache_dir

__all__ = [
    "FORMAT_VERSION",
    "STORAGE_DTYPES",
    "BuildEmbeddingCache",
    "CacheError",
    "CachedEvalDataset",
    "CachedTrainDataset",
    "EmbeddingCache",
    "cache_from_config",
    "check_cache_dir",
    "FeatureStore",
    "encoder_fingerprint",
]

"""kinema.data: your own videos as training data (``VideoFolder``) and token-budget buckets for native sizes."""

from kinema.data.buckets import (
    Bucket,
    BucketBatchSampler,
    assign_bucket,
    collate,
    count_tokens,
    crop_per_side,
    fit_to_bucket,
    make_buckets,
)
from kinema.data.folder import VideoFolder

__all__ = [
    "Bucket",
    "BucketBatchSampler",
    "VideoFolder",
    "assign_bucket",
    "collate",
    "count_tokens",
    "crop_per_side",
    "fit_to_bucket",
    "make_buckets",
]

"""Gradient buckets: PyTorch's ``compute_bucket_assignment_by_size``.

Tensors are taken in the given order (DistributedDataParallel passes its parameters reversed, the
order their gradients become ready in backward) and put into a bucket per (dtype, device) until the
bucket holds at least the current size limit; each (dtype, device) then moves to the next limit, the
last one repeating. PyTorch's limits are 1 MB for the first bucket and ``bucket_cap_mb`` (25 MB)
after, so the first all-reduce starts early. Buckets are sorted by the smallest index they hold.
"""

from __future__ import annotations

DEFAULT_FIRST_BUCKET_BYTES = 1024 * 1024
DEFAULT_BUCKET_CAP_MB = 25


def compute_bucket_assignment_by_size(tensors, bucket_size_limits: list[int]) -> list[list[int]]:
    """Lists of indices into ``tensors``, one list per bucket."""
    if not bucket_size_limits:
        raise ValueError("bucket_size_limits must not be empty")
    open_buckets: dict = {}  # (dtype, device) -> [indices, bytes, limit position]
    closed: list[list[int]] = []
    for i, t in enumerate(tensors):
        key = (str(t.dtype), str(t.device))
        bucket = open_buckets.setdefault(key, [[], 0, 0])
        bucket[0].append(i)
        bucket[1] += t.numel() * t.element_size()
        if bucket[1] >= bucket_size_limits[bucket[2]]:
            closed.append(bucket[0])
            open_buckets[key] = [[], 0, min(bucket[2] + 1, len(bucket_size_limits) - 1)]
    closed.extend(b[0] for b in open_buckets.values() if b[0])
    return sorted(closed, key=min)

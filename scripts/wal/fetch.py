"""Reading one archived object: the GET with the archive's error handling, and its codec.

Every reader of archived WAL (the catalog's history files, the prefetcher, the restore's own
look at the newest segments) goes through here, so a codec or an S3 failure reads the same.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
from collections.abc import Callable
from typing import Any

from scripts.errors import ExternalError
from scripts.wal.location import ArchiveLocation, s3_call


def decompressor(codec: str | None) -> Callable[[bytes], bytes] | None:
    """A function that decompresses ``codec``, or None when this Python lacks the module."""
    if codec is None:
        return lambda data: data
    if codec == "gzip":
        return gzip.decompress
    if codec == "bzip2":
        return bz2.decompress
    if codec == "xz":
        return lzma.decompress
    try:
        if codec == "zstd":
            import zstandard  # type: ignore[import-not-found]

            return lambda data: zstandard.ZstdDecompressor().decompressobj().decompress(data)
        if codec == "lz4":
            import lz4.frame  # type: ignore[import-not-found]

            return lz4.frame.decompress
        if codec == "snappy":
            import snappy  # type: ignore[import-not-found]

            return snappy.decompress
    except ImportError:
        return None
    return None


def fetch_raw(location: ArchiveLocation, key: str, what: str, client: Any = None) -> bytes:
    """The object's bytes as stored (compressed or not); ``what`` names the call in errors."""
    s3 = client if client is not None else location.client()
    # The body is read inside the call: a connection lost mid-download is the same operator error.
    return s3_call(location, what, lambda: s3.get_object(Bucket=location.bucket, Key=key)["Body"].read())


def fetch_decompressed(location: ArchiveLocation, key: str, codec: str | None, client: Any = None) -> bytes:
    """The object's content; refused (ExternalError) when this Python cannot decompress ``codec``."""
    decompress = decompressor(codec)
    if decompress is None:
        raise ExternalError(f"cannot decompress {key} ({codec}): the Python module is missing")
    return decompress(fetch_raw(location, key, f"GET {key}", client))

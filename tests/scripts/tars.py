"""Small tar archives for tests, written as barman-cloud writes its tars (Python's tarfile, PAX format)."""

from __future__ import annotations

import io
import tarfile


def tar_of(members: dict[str, bytes]) -> bytes:
    """An uncompressed tar of regular files, name -> content, in the given order."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()

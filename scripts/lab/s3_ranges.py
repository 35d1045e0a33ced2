"""``moto_server`` serving byte ranges as S3 does: only the bytes asked for (the lab's and the sandbox's store).

moto 5.2 answers every GET of an object by reading the whole object under the object's lock, then slicing it
for a ``Range``. Eight concurrent 16 MiB ranges of a 1 GiB base backup then read 8 GiB one after the other: a
parallel restore measured against moto would measure moto. S3 serves each range from storage on its own. This
patch makes a plain ``bytes=<first>-<last>`` GET read just that slice (under the lock, briefly); everything
else (no range, several ranges, a suffix range, HEAD) is moto's own path. Applied by
``python -m scripts.lab.s3_server`` (the lab's store) and the sandbox's ``moto_server``; tests say so.
"""

from __future__ import annotations

import contextvars
import re
from typing import Any

_SIMPLE_RANGE = re.compile(r"^bytes=(\d+)-(\d+)$")
_RANGED_GET: contextvars.ContextVar[bool] = contextvars.ContextVar("idp_dr_ranged_get", default=False)
_APPLIED = False


class _LazyValue:
    """An object's content that reads only the slice taken from it (``len`` is the whole size)."""

    def __init__(self, key: Any):
        self.key = key

    def __len__(self) -> int:
        return int(self.key.contentsize)

    def __bool__(self) -> bool:
        return len(self) > 0

    def __getitem__(self, item: slice) -> bytes:
        start, stop, _ = item.indices(len(self))
        with self.key.lock:
            self.key._value_buffer.seek(start)
            return self.key._value_buffer.read(max(stop - start, 0))


def apply() -> None:
    global _APPLIED
    if _APPLIED:
        return
    from moto.s3.models import FakeKey
    from moto.s3.responses import S3Response

    whole_value = FakeKey.value

    def value(self: Any) -> Any:
        return _LazyValue(self) if _RANGED_GET.get() else whole_value.fget(self)

    original_key_response = S3Response.key_response

    def key_response(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        simple = request.method == "GET" and _SIMPLE_RANGE.match(request.headers.get("range") or "")
        token = _RANGED_GET.set(bool(simple))
        try:
            return original_key_response(self, request, *args, **kwargs)
        finally:
            _RANGED_GET.reset(token)

    FakeKey.value = property(value, whole_value.fset)
    S3Response.key_response = key_response
    _APPLIED = True

"""The lab's store serves a byte range as S3 does: exactly those bytes, and every other GET as moto does."""

from __future__ import annotations

import os

import pytest
from botocore.exceptions import ClientError

from scripts.lab.s3 import S3Server
from scripts.processes import Supervisor


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    with Supervisor() as supervisor:
        server = S3Server.start(supervisor, tmp_path_factory.mktemp("s3"))
        server.create_bucket("ranges")
        yield server.client()


def test_ranges_full_gets_and_bad_ranges_answer_as_s3_does(store):
    body = os.urandom(5 * 1024 * 1024 + 123)
    store.put_object(Bucket="ranges", Key="blob", Body=body)
    for first, last in ((0, 0), (1000, 1048575), (5 * 1024 * 1024, len(body) - 1), (4096, 10**9)):
        answer = store.get_object(Bucket="ranges", Key="blob", Range=f"bytes={first}-{last}")
        end = min(last, len(body) - 1)
        assert answer["Body"].read() == body[first : end + 1]
        assert answer["ContentRange"] == f"bytes {first}-{end}/{len(body)}"
    assert store.get_object(Bucket="ranges", Key="blob")["Body"].read() == body
    assert store.get_object(Bucket="ranges", Key="blob", Range="bytes=-100")["Body"].read() == body[-100:]
    with pytest.raises(ClientError, match="InvalidRange"):
        store.get_object(Bucket="ranges", Key="blob", Range=f"bytes={len(body)}-{len(body) + 10}")


def test_a_ranged_read_reads_only_its_slice():
    import io
    import threading

    from scripts.lab.s3_ranges import _LazyValue

    class Key:
        def __init__(self, data: bytes):
            self.lock, self.contentsize = threading.Lock(), len(data)
            self.reads: list[int] = []
            buffer = io.BytesIO(data)
            original = buffer.read
            buffer.read = lambda n=-1: (self.reads.append(n), original(n))[1]  # type: ignore[method-assign]
            self._value_buffer = buffer

    key = Key(bytes(range(256)) * 4096)
    lazy = _LazyValue(key)
    assert len(lazy) == 256 * 4096 and bool(lazy)
    assert lazy[1000:1010] == (bytes(range(256)) * 4096)[1000:1010]
    assert key.reads == [10]  # ten bytes read, not the object

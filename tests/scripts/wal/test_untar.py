"""The in-process tar writer against GNU tar on the same bytes, and against the archives it must refuse.

Archives are built with Python's ``tarfile`` (what barman-cloud-backup writes with) in PAX and GNU
formats, and fed in chunks that split headers and file data anywhere.
"""

from __future__ import annotations

import io
import os
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

from scripts.errors import ExternalError
from scripts.pg.osuser import pg_os_user
from scripts.wal import base_fetch
from scripts.wal.untar import TarFormatError, TarWriter

LONG_DIR = "base/16384/" + "d" * 90
CHUNKS = (1, 7, 511, 512, 513, 4096, 65537)


def _source_tree(root: Path) -> Path:
    """A small PGDATA-like tree: nested directories, an empty file, a big one, links, a long path."""
    (root / "global").mkdir(parents=True)
    (root / LONG_DIR).mkdir(parents=True)
    (root / "PG_VERSION").write_text("15\n")
    (root / "global" / "pg_control").write_bytes(os.urandom(8192))
    (root / "postmaster.opts").write_bytes(b"")
    (root / LONG_DIR / ("f" * 120)).write_bytes(os.urandom(300_000))
    (root / "base" / "16384" / "2619").write_bytes(os.urandom(12345))
    os.link(root / "base" / "16384" / "2619", root / "base" / "16384" / "2619.hard")
    os.symlink("../elsewhere/" + "t" * 110, root / "pg_wal")
    (root / "global" / "pg_control").chmod(0o600)
    (root / "global").chmod(0o700)
    os.utime(root / "PG_VERSION", (1_600_000_000, 1_600_000_000))
    return root


def _archive(root: Path, fmt: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for path in sorted(root.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(root)), recursive=False)
    return buf.getvalue()


def _feed(dest: Path, data: bytes, chunk: int) -> TarWriter:
    writer = TarWriter(dest)
    for i in range(0, len(data), chunk):
        writer.feed(data[i : i + chunk])
    writer.close()
    return writer


def _snapshot(root: Path) -> dict[str, tuple]:
    out = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        rel = str(path.relative_to(root))
        if stat.S_ISLNK(st.st_mode):
            out[rel] = ("link", os.readlink(path))
        elif stat.S_ISDIR(st.st_mode):
            out[rel] = ("dir", stat.S_IMODE(st.st_mode), int(st.st_mtime))
        else:
            out[rel] = ("file", path.read_bytes(), stat.S_IMODE(st.st_mode), int(st.st_mtime), st.st_nlink)
    return out


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT], ids=["pax", "gnu"])
def test_it_writes_what_gnu_tar_extracts_from_the_same_bytes(tmp_path, fmt):
    data = _archive(_source_tree(tmp_path / "src"), fmt)
    theirs = tmp_path / "tar"
    theirs.mkdir()
    subprocess.run(["tar", "-x", "-f", "-", "-C", str(theirs)], input=data, check=True)
    for chunk in CHUNKS:
        ours = tmp_path / f"ours-{chunk}"
        ours.mkdir()
        writer = _feed(ours, data, chunk)
        assert _snapshot(ours) == _snapshot(theirs), f"chunk size {chunk}"
        assert writer.files == 5  # the hard link is a link to one of them, not a sixth file written
    assert _snapshot(theirs)["PG_VERSION"][3] == 1_600_000_000


def test_pgdata_may_itself_be_a_link_to_the_data_volume(tmp_path):
    volume, pgdata = tmp_path / "volume", tmp_path / "pgdata"
    volume.mkdir()
    pgdata.symlink_to(volume)
    _feed(pgdata, _archive(_source_tree(tmp_path / "src"), tarfile.PAX_FORMAT), 65536)
    assert (volume / "PG_VERSION").read_text() == "15\n" and (volume / "global" / "pg_control").is_file()


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_as_root_every_entry_belongs_to_the_postgresql_user(tmp_path):
    user = pg_os_user()
    data = _archive(_source_tree(tmp_path / "src"), tarfile.PAX_FORMAT)
    dest = tmp_path / "dest"
    dest.mkdir()
    writer = TarWriter(dest, uid=user.uid, gid=user.gid)
    writer.feed(data)
    writer.close()
    owners = {(p.lstat().st_uid, p.lstat().st_gid) for p in dest.rglob("*")}
    assert owners == {(user.uid, user.gid)}


def _hostile(tmp_path: Path, *members: tuple[str, bytes | None, str]) -> bytes:
    """A tar of (name, content or None, link target); content None with a target makes a symbolic link."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content, target in members:
            info = tarfile.TarInfo(name)
            if content is None:
                info.type, info.linkname = tarfile.SYMTYPE, target
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ((("../outside/x", b"boom", ""),), r"'\.\./outside/x' in the tar stream for .* points outside PGDATA"),
        ((("/outside/x", b"boom", ""),), r"'/outside/x' in the tar stream for .* points outside PGDATA"),
        ((("base/../../outside/x", b"boom", ""),), r"points outside PGDATA: nothing was written there"),
        (
            (("evil", None, "../outside"), ("evil/x", b"boom", "")),
            r"'evil' in the tar stream for .* is not a directory \(.*\): nothing is written through a link",
        ),
    ],
    ids=["dotdot", "absolute", "dotdot-inside", "through-a-symlink"],
)
def test_a_member_that_would_land_outside_pgdata_is_refused_and_nothing_lands_there(tmp_path, members, message):
    dest, outside = tmp_path / "pgdata", tmp_path / "outside"
    dest.mkdir()
    outside.mkdir()
    with pytest.raises(TarFormatError, match=message):
        _feed(dest, _hostile(tmp_path, *members), 4096)
    assert list(outside.iterdir()) == []


def test_a_device_or_fifo_is_refused_with_its_type(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("pg_stat/fifo")
        info.type = tarfile.FIFOTYPE
        tar.addfile(info)
    dest = tmp_path / "pgdata"
    dest.mkdir()
    with pytest.raises(TarFormatError, match=r"'pg_stat/fifo' in the tar stream for .* is of tar type '6': only files"):
        _feed(dest, buf.getvalue(), 512)


def test_a_stream_cut_inside_a_file_fails_at_close(tmp_path):
    """What a half-written upload looks like when its size still matches what the listing said."""
    data = _archive(_source_tree(tmp_path / "src"), tarfile.PAX_FORMAT)
    dest = tmp_path / "dest"
    dest.mkdir()
    writer = TarWriter(dest)
    writer.feed(data[: len(data) // 2])
    with pytest.raises(TarFormatError, match=r"ended inside a member \(a truncated object\?\)"):
        writer.close()


def _end_of_members(data: bytes) -> int:
    """Where the end-of-archive blocks start in a tarfile-written archive (after the last member's padding)."""
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        last = tar.getmembers()[-1]
    return last.offset_data + -(-last.size // 512) * 512


@pytest.mark.parametrize("cut", ["between-members", "empty-object"])
def test_a_stream_cut_between_two_members_fails_at_close(tmp_path, cut):
    """GNU tar extracts such a stream without a word; every tar barman-cloud writes ends with zero blocks."""
    data = _archive(_source_tree(tmp_path / "src"), tarfile.PAX_FORMAT)
    data = data[: _end_of_members(data)] if cut == "between-members" else b""
    dest = tmp_path / "dest"
    dest.mkdir()
    writer = TarWriter(dest)
    writer.feed(data)
    with pytest.raises(TarFormatError) as caught:
        writer.close()
    assert str(caught.value) == (
        f"the tar stream for {dest} ended without its end-of-archive blocks (a truncated object?)"
    )


def test_a_damaged_header_is_refused(tmp_path):
    data = bytearray(_archive(_source_tree(tmp_path / "src"), tarfile.PAX_FORMAT))
    data[10] ^= 0xFF  # the first header's name: its checksum no longer matches
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(TarFormatError, match=r"a damaged tar header in the stream for .*: "):
        _feed(dest, bytes(data), 512)
    assert list(dest.iterdir()) == []


def test_the_refusals_are_external_errors_that_the_cli_reports():
    assert issubclass(TarFormatError, ExternalError)


def test_a_damaged_pax_record_is_refused(tmp_path):
    info = tarfile.TarInfo("././@PaxHeader")
    info.type, info.size = tarfile.XHDTYPE, 12
    data = info.tobuf(tarfile.USTAR_FORMAT) + b"99 path=x\n\0\0".ljust(512, b"\0") + bytes(1024)
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(TarFormatError, match=r"a damaged PAX header in the tar stream for "):
        _feed(dest, data, 100)


def _pax_file(name: str, data: bytes, **records: str) -> bytes:
    """A tar of one file whose PAX header carries ``records`` (crafted: tarfile would write the true values)."""
    pax = b"".join(_pax_record(key, value) for key, value in records.items())
    header = tarfile.TarInfo("././@PaxHeader")
    header.type, header.size = tarfile.XHDTYPE, len(pax)
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return (
        header.tobuf(tarfile.USTAR_FORMAT) + pax.ljust(-(-len(pax) // 512) * 512, b"\0")
        + info.tobuf(tarfile.USTAR_FORMAT) + data.ljust(-(-len(data) // 512) * 512, b"\0") + bytes(1024)
    )  # fmt: skip


def _pax_record(key: str, value: str) -> bytes:
    body = f" {key}={value}\n".encode()
    length = len(body) + len(str(len(body)))
    length = len(body) + len(str(length))
    return str(length).encode() + body


@pytest.mark.parametrize(
    ("records", "shown"),
    [({"size": "12x"}, "size='12x'"), ({"size": "-5"}, "size='-5'"), ({"mtime": "nan"}, "mtime='nan'")],
    ids=["size-not-a-number", "size-negative", "mtime-nan"],
)
def test_a_pax_size_or_time_that_is_no_number_is_refused_naming_it(tmp_path, records, shown):
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(TarFormatError) as caught:
        _feed(dest, _pax_file("base/1/1259", b"data", **records), 512)
    assert str(caught.value) == f"a damaged PAX header in the tar stream for {dest}: {shown}"
    assert list(dest.iterdir()) == []


def test_true_pax_numbers_are_taken_over_the_headers(tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    _feed(dest, _pax_file("base/1/1259", b"data", mtime="1600000000.5", size="4"), 100)
    assert (dest / "base/1/1259").read_bytes() == b"data"
    assert (dest / "base/1/1259").stat().st_mtime == 1600000000.5


def test_an_extended_header_claiming_more_than_a_mib_is_refused_before_it_is_read(tmp_path):
    header = tarfile.TarInfo("././@PaxHeader")
    header.type, header.size = tarfile.XHDTYPE, 2 * 1024**3  # a crafted 2 GiB "header": never held in memory
    dest = tmp_path / "dest"
    dest.mkdir()
    writer = TarWriter(dest)
    with pytest.raises(TarFormatError) as caught:
        writer.feed(header.tobuf(tarfile.USTAR_FORMAT))
    writer.abort()
    assert str(caught.value) == (
        f"an extended header of {2 * 1024**3} bytes in the tar stream for {dest}: at most 1048576 "
        "(barman-cloud's are a few hundred)"
    )


def test_setuid_setgid_and_sticky_bits_from_the_archive_are_dropped(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        directory = tarfile.TarInfo("pg_tblspc")
        directory.type, directory.mode = tarfile.DIRTYPE, 0o1777
        tar.addfile(directory)
        program = tarfile.TarInfo("pg_tblspc/run-me")
        program.size, program.mode = 4, 0o6755
        tar.addfile(program, io.BytesIO(b"#!/b"))
    dest = tmp_path / "dest"
    dest.mkdir()
    _feed(dest, buf.getvalue(), 512)
    assert stat.S_IMODE((dest / "pg_tblspc/run-me").stat().st_mode) == 0o755
    assert stat.S_IMODE((dest / "pg_tblspc").stat().st_mode) == 0o777


@pytest.fixture
def tiny_filesystem(tmp_path):
    """A 1 MiB tmpfs: a PGDATA whose disk fills up mid-restore."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_fails_the_fetch_naming_the_object_and_pgdata(tmp_path, tiny_filesystem):
    data = _archive(_source_tree(tmp_path / "src"), tarfile.PAX_FORMAT)
    parts = _Parts("pg/primary/base/B1/data.tar", [data[i : i + 65536] for i in range(0, len(data), 65536)])
    padding = tiny_filesystem / "filler"
    padding.write_bytes(b"\0" * (900 * 1024))  # leaves less room than the archive's 300 kB file needs
    with pytest.raises(
        ExternalError, match=r"extracting pg/primary/base/B1/data\.tar into .*tiny failed: .*No space left"
    ):
        base_fetch._write_here(parts, tiny_filesystem, pg_os_user(), base_fetch.FetchStats())


class _Parts:
    """What base_fetch hands the writer: the object's parts in order, and the object."""

    def __init__(self, key: str, chunks: list[bytes]):
        self.obj = base_fetch.TarObject(key, sum(map(len, chunks)), None)
        self._chunks = chunks

    def __iter__(self):
        return iter(self._chunks)

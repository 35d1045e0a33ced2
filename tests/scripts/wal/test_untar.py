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

"""Dataset downloads against a real HTTP server on 127.0.0.1: resume, checksums, Range fallback, safe extraction."""

from __future__ import annotations

import hashlib
import http.server
import io
import re
import sys
import tarfile
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from segen.data.seg import download
from segen.data.seg.download import (
    DATASETS,
    DatasetSource,
    RemoteFile,
    download_dataset,
    download_file,
    extract,
    list_datasets,
    manual_instructions,
)
from segen.errors import DataError


@dataclass
class ServerState:
    """What the test server serves, how it misbehaves, and the requests it saw (path, Range header)."""

    files: dict[str, bytes] = field(default_factory=dict)
    cut_after: dict[str, int] = field(default_factory=dict)
    no_range: set[str] = field(default_factory=set)
    drip: dict[str, float] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ServerState.files with Range support; can cut a response off after K bytes (once) or drip it."""

    server: _Server

    def do_GET(self) -> None:
        state = self.server.state
        state.requests.append((self.path, self.headers.get("Range")))
        data = state.files.get(self.path)
        if data is None:
            self.send_error(404, "Not Found")
            return
        start = self._start(len(data), state)
        if start is None:
            return
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = state.cut_after.pop(self.path, None)
        body = body if cut is None else body[:cut]
        delay = state.drip.get(self.path)
        try:
            for piece in ([body] if delay is None else [body[i:i + 256] for i in range(0, len(body), 256)]):
                self.wfile.write(piece)
                self.wfile.flush()
                if delay is not None:
                    time.sleep(delay)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up
            pass
        self.close_connection = True

    def _start(self, size: int, state: ServerState) -> int | None:
        """Send the status line for a full or ranged answer; returns the first byte (None: answered 416)."""
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if match is None or self.path in state.no_range:
            self.send_response(200)
            return 0
        start = int(match.group(1))
        if start >= size:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        return start

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: ServerState) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture()
def server() -> Iterator[_Server]:
    srv = _Server(ServerState())
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _targz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _serve(server: _Server, path: str, data: bytes, sha: str | None = None) -> RemoteFile:
    server.state.files[path] = data
    return RemoteFile(server.url + path, sha or _sha(data), Path(path).name, len(data))


TAR_MEMBERS = {"tiny/images/a.txt": b"image a", "tiny/masks/a.txt": b"mask a"}
BIG = bytes(range(256)) * 64  # 16 KiB, several chunks of 4 KiB


def test_clean_download_and_extraction(server: _Server, tmp_path: Path) -> None:
    remote = _serve(server, "/files/tiny.tar.gz", _targz(TAR_MEMBERS))
    archive = download_file(remote, tmp_path / "dl", progress=False)
    assert archive == tmp_path / "dl" / "tiny.tar.gz"
    assert archive.read_bytes() == server.state.files["/files/tiny.tar.gz"]
    assert not (tmp_path / "dl" / "tiny.tar.gz.part").exists()
    extract(archive, tmp_path / "out")
    assert (tmp_path / "out" / "tiny" / "masks" / "a.txt").read_bytes() == b"mask a"
    zip_path = tmp_path / "dl" / "tiny.zip"
    zip_path.write_bytes(_zip({"z/b.txt": b"zip b"}))
    extract(zip_path, tmp_path / "out")  # merges into an existing folder
    assert (tmp_path / "out" / "z" / "b.txt").read_bytes() == b"zip b"
    assert (tmp_path / "out" / "tiny" / "images" / "a.txt").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dl", "out"]  # no temporary folders left


def test_interrupted_transfer_resumes_with_range(server: _Server, tmp_path: Path) -> None:
    remote = _serve(server, "/big.bin", BIG)
    server.state.cut_after["/big.bin"] = 5000
    with pytest.raises(DataError, match=re.escape(remote.url) + r".*5000 of 16384 bytes"):
        download_file(remote, tmp_path, progress=False, chunk=4096)
    assert (tmp_path / "big.bin.part").stat().st_size == 5000 and not (tmp_path / "big.bin").exists()
    path = download_file(remote, tmp_path, progress=False, chunk=4096)
    assert path.read_bytes() == BIG and not (tmp_path / "big.bin.part").exists()
    assert server.state.requests == [("/big.bin", None), ("/big.bin", "bytes=5000-")]


def test_checksum_mismatch_removes_the_file(server: _Server, tmp_path: Path) -> None:
    remote = _serve(server, "/big.bin", BIG, sha=_sha(b"something else"))
    with pytest.raises(DataError, match="checksum mismatch") as info:
        download_file(remote, tmp_path, progress=False)
    assert remote.url in str(info.value) and "removed" in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_server_without_range_support_restarts(server: _Server, tmp_path: Path) -> None:
    remote = _serve(server, "/big.bin", BIG)
    server.state.no_range.add("/big.bin")
    server.state.cut_after["/big.bin"] = 3000
    with pytest.raises(DataError, match="resume"):
        download_file(remote, tmp_path, progress=False, chunk=1024)
    (tmp_path / "big.bin.part").write_bytes(b"x" * 3000)  # what was kept must not be reused: it is overwritten
    path = download_file(remote, tmp_path, progress=False, chunk=1024)
    assert path.read_bytes() == BIG
    assert server.state.requests[-1] == ("/big.bin", "bytes=3000-")


def test_complete_part_file_is_verified_without_a_body(server: _Server, tmp_path: Path) -> None:
    remote = _serve(server, "/big.bin", BIG)
    (tmp_path / "big.bin.part").write_bytes(BIG)
    assert download_file(remote, tmp_path, progress=False).read_bytes() == BIG
    assert server.state.requests == []  # the size says it is complete: only the checksum is checked
    (tmp_path / "big.bin").unlink()
    (tmp_path / "big.bin.part").write_bytes(BIG)
    unsized = RemoteFile(remote.url, remote.sha256, remote.filename)
    assert download_file(unsized, tmp_path, progress=False).read_bytes() == BIG  # server answers 416
    assert server.state.requests == [("/big.bin", f"bytes={len(BIG)}-")]


def test_existing_file_is_not_fetched_again(server: _Server, tmp_path: Path) -> None:
    remote = _serve(server, "/big.bin", BIG)
    (tmp_path / "big.bin").write_bytes(BIG)
    assert download_file(remote, tmp_path, progress=False) == tmp_path / "big.bin"
    assert server.state.requests == []


def test_network_errors_name_the_url(server: _Server, tmp_path: Path) -> None:
    missing = RemoteFile(server.url + "/nope.tar", _sha(b""), "nope.tar")
    with pytest.raises(DataError, match=re.escape(missing.url) + r".*HTTP 404"):
        download_file(missing, tmp_path, progress=False)
    closed = _Server(ServerState())
    url = closed.url + "/x.bin"
    closed.server_close()  # nothing listens there any more
    with pytest.raises(DataError, match=re.escape(url) + r": download failed"):
        download_file(RemoteFile(url, _sha(b""), "x.bin"), tmp_path, progress=False)


@pytest.mark.parametrize("name", ["../evil", "tiny/../../evil", "/abs/evil"])
@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_unsafe_archive_member_is_rejected(tmp_path: Path, name: str, kind: str) -> None:
    members = {"ok.txt": b"ok", name: b"evil"}
    archive = tmp_path / f"evil.{kind}"
    archive.write_bytes(_targz(members) if kind == "tar" else _zip(members))
    with pytest.raises(DataError, match="unsafe member"):
        extract(archive, tmp_path / "sub" / "out")
    assert list((tmp_path / "sub").iterdir()) == [] and not (tmp_path / "evil").exists()


def test_failed_extraction_leaves_nothing(tmp_path: Path) -> None:
    archive = tmp_path / "broken.tar.gz"
    archive.write_bytes(_targz({f"f{i}.bin": BIG for i in range(4)})[:-200])
    with pytest.raises(DataError, match="cannot extract"):
        extract(archive, tmp_path / "out")
    (tmp_path / "plain.txt").write_text("not an archive")
    with pytest.raises(DataError, match="not a tar or zip"):
        extract(tmp_path / "plain.txt", tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.tar.gz", "plain.txt"]


def test_unknown_dataset_lists_valid_names(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="unknown dataset 'nope'") as info:
        download_dataset("nope", tmp_path)
    assert all(name in str(info.value) for name in list_datasets())


def test_cityscapes_gives_manual_instructions(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        download_dataset("cityscapes", tmp_path)
    message = str(info.value)
    assert "\n" not in message and "gtFine_trainvaltest.zip" in message and "leftImg8bit_trainvaltest.zip" in message
    assert str(tmp_path / "cityscapes") in message
    full = manual_instructions("cityscapes")
    assert len(full.splitlines()) > 3 and "ROOT/cityscapes/leftImg8bit" in full and "ROOT/cityscapes/gtFine" in full
    assert "cityscapes-dataset.com" in full and list(tmp_path.iterdir()) == []


def test_registry_has_real_looking_checksums() -> None:
    assert {"voc2012", "oxford-pet", "cityscapes"} <= set(list_datasets())
    for name, source in DATASETS.items():
        assert source.name == name and (source.manual is None) == bool(source.files)
        for remote in source.files:
            assert re.fullmatch(r"[0-9a-f]{64}", remote.sha256) and remote.url.endswith(remote.filename)
    assert "automatically" in manual_instructions("voc2012")


def test_download_dataset_end_to_end(server: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tar_data, zip_data = _targz(TAR_MEMBERS), _zip({"tiny/classes.txt": b"bg\nfg\n"})
    server.state.files.update({"/pub/tiny.tar.gz": tar_data, "/pub/extra.zip": zip_data})
    source = DatasetSource(
        name="tiny", description="test data", layout="folder", subdir="tiny-set", data_dir="tiny",
        files=(RemoteFile("https://example.invalid/pub/tiny.tar.gz", _sha(tar_data), "tiny.tar.gz", len(tar_data)),
               RemoteFile("https://example.invalid/pub/extra.zip", _sha(zip_data), "extra.zip")),
    )
    monkeypatch.setitem(download.DATASETS, "tiny", source)
    root = tmp_path / "data"
    path = download_dataset("tiny", root, progress=False, base_url=server.url)
    assert path == root / "tiny-set" / "tiny"
    assert (path / "images" / "a.txt").read_bytes() == b"image a" and (path / "classes.txt").is_file()
    assert sorted(p.name for p in (root / ".downloads").iterdir()) == ["extra.zip", "tiny.tar.gz"]
    assert [r[0] for r in server.state.requests] == ["/pub/tiny.tar.gz", "/pub/extra.zip"]
    (path / "masks" / "a.txt").unlink()  # a second run neither downloads nor unpacks again
    assert download_dataset("tiny", root, progress=False, base_url=server.url) == path
    assert len(server.state.requests) == 2 and not (path / "masks" / "a.txt").exists()


def test_overall_deadline_stops_a_slow_download(server: _Server, tmp_path: Path) -> None:
    """A server that keeps sending, slowly, never trips the per-read timeout: the deadline stops it."""
    remote = _serve(server, "/slow.bin", BIG)
    server.state.drip["/slow.bin"] = 0.02  # 256 bytes every 20 ms: about 1.3 s for the whole file
    start = time.monotonic()
    with pytest.raises(DataError, match=re.escape(remote.url) + r": download took longer than 0.3 s") as info:
        download_file(remote, tmp_path, progress=False, chunk=4096, deadline=0.3)
    assert time.monotonic() - start < 1.0
    assert info.value.kind == "timeout" and "\n" not in str(info.value) and "--deadline" in str(info.value)
    assert 0 < (tmp_path / "slow.bin.part").stat().st_size < len(BIG)  # kept, to resume
    server.state.drip.clear()
    assert download_file(remote, tmp_path, progress=False).read_bytes() == BIG


def test_default_deadline_scales_with_the_size() -> None:
    assert download.default_deadline(1000) == download.MIN_DEADLINE
    two_gb = 2 * 1024**3
    assert download.default_deadline(two_gb) == pytest.approx(two_gb / download.MIN_RATE)
    assert download.default_deadline(None) == download.UNSIZED_DEADLINE
    with pytest.raises(DataError, match="deadline must be positive"):
        download_file(RemoteFile("http://127.0.0.1:9/x", _sha(b""), "x"), Path("unused"), deadline=0)


@pytest.mark.skipif(sys.platform == "win32", reason="flock is POSIX")
def test_second_download_into_the_same_part_is_refused(server: _Server, tmp_path: Path) -> None:
    import fcntl

    remote = _serve(server, "/big.bin", BIG)
    with (tmp_path / "big.bin.lock").open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(DataError) as info:
            download_file(remote, tmp_path, progress=False)
    message = str(info.value)
    assert info.value.kind == "locked" and info.value.path == tmp_path / "big.bin.part"
    assert f"{tmp_path / 'big.bin.part'}: another download into this file is running" in message
    assert "\n" not in message and server.state.requests == []
    assert download_file(remote, tmp_path, progress=False).read_bytes() == BIG  # free again once released
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.bin"]  # the lock file goes with the download


def test_concurrent_downloads_one_runs_one_is_refused(server: _Server, tmp_path: Path) -> None:
    remote = _serve(server, "/slow.bin", BIG)
    server.state.drip["/slow.bin"] = 0.01
    results: list[Path | DataError] = []

    def first() -> None:
        try:
            results.append(download_file(remote, tmp_path, progress=False, chunk=1024))
        except DataError as exc:  # pragma: no cover - a failure shows in the assertion below
            results.append(exc)

    thread = threading.Thread(target=first)
    thread.start()
    for _ in range(500):
        if server.state.requests:
            break
        time.sleep(0.01)
    with pytest.raises(DataError, match="another download into this file is running") as info:
        download_file(remote, tmp_path, progress=False)
    thread.join(10)
    assert info.value.kind == "locked" and results == [tmp_path / "slow.bin"]
    assert (tmp_path / "slow.bin").read_bytes() == BIG and len(server.state.requests) == 1


def test_lock_file_without_flock(server: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where flock is unavailable, the lock is a file created exclusively; a stale one is named."""
    monkeypatch.setattr(download, "fcntl", None)
    remote = _serve(server, "/big.bin", BIG)
    (tmp_path / "big.bin.lock").write_text("12345\n")
    with pytest.raises(DataError, match="another download into this file is running") as info:
        download_file(remote, tmp_path, progress=False)
    assert info.value.kind == "locked" and str(tmp_path / "big.bin.lock") in str(info.value)
    assert server.state.requests == []
    (tmp_path / "big.bin.lock").unlink()
    assert download_file(remote, tmp_path, progress=False).read_bytes() == BIG
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.bin"]

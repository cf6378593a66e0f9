"""Downloading public datasets: resumable HTTP downloads, SHA-256 checks and safe archive extraction.

`download_dataset(name, root)` fetches the archives of a dataset listed in `DATASETS` into
ROOT/.downloads (an interrupted download resumes from its `.part` file on the next run), checks every
file against its published SHA-256, and unpacks the archives into ROOT/<subdir>. Datasets behind a
login (Cityscapes) have no files, only instructions (`manual_instructions`). Unpacking is
`segen.data.seg.archive.extract`.

Each read waits at most `TIMEOUT` seconds and a whole file at most its deadline (`default_deadline`,
or the caller's); a second download into the same `.part` file is refused while the first holds its
lock (`FILE.lock` beside it).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import importlib
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import BinaryIO

from tqdm import tqdm

from segen.data.seg.archive import extract
from segen.errors import DataError
from segen.runtime import write_atomic

TIMEOUT = 60.0
"""Seconds one connection attempt or one read may wait."""
MIN_DEADLINE = 600.0
"""Seconds a download of any size may take (the default deadline of small files)."""
MIN_RATE = 100 * 1024
"""Bytes per second below which a large download is given up: its default deadline is size / MIN_RATE."""
UNSIZED_DEADLINE = 6 * 3600.0
"""Default deadline, in seconds, of a file whose size is not known in advance."""
USER_AGENT = "segen-download/1.0 (+https://pypi.org/project/segen)"


def _optional_module(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:  # pragma: no cover - platforms without it (Windows)
        return None


fcntl = _optional_module("fcntl")


@dataclass(frozen=True)
class RemoteFile:
    """One file to download, with its published SHA-256 and size in bytes (when known)."""

    url: str
    sha256: str
    filename: str
    size: int | None = None


@dataclass(frozen=True)
class DatasetSource:
    """A public dataset: its archives, the segen format they unpack to, and where they go under ROOT.

    `data_dir` is the folder inside ROOT/<subdir> that holds the data in `layout` (empty: ROOT/<subdir>
    itself). `manual` holds instructions for datasets that need a login; its first line is a summary.
    """

    name: str
    description: str
    files: tuple[RemoteFile, ...]
    layout: str
    subdir: str
    manual: str | None = None
    data_dir: str = ""


_CITYSCAPES_MANUAL = """\
cityscapes needs a (free) login and cannot be downloaded automatically: register at \
https://www.cityscapes-dataset.com/register/, download gtFine_trainvaltest.zip and \
leftImg8bit_trainvaltest.zip, and unzip both into {dest} so that {dest}/leftImg8bit and {dest}/gtFine exist.
Steps:
  1. Register at https://www.cityscapes-dataset.com/register/ and wait for the confirmation e-mail.
  2. Log in and open https://www.cityscapes-dataset.com/downloads/.
  3. Download gtFine_trainvaltest.zip (fine annotations, 241 MB) and
     leftImg8bit_trainvaltest.zip (left 8-bit images, 11 GB).
  4. Unzip both archives into the same folder:
       unzip gtFine_trainvaltest.zip -d {dest}
       unzip leftImg8bit_trainvaltest.zip -d {dest}
  5. Check that {dest}/leftImg8bit/{{train,val,test}} and {dest}/gtFine/{{train,val,test}} exist,
     then use {dest} as the data folder (format: cityscapes)."""

DATASETS: dict[str, DatasetSource] = {
    "voc2012": DatasetSource(
        name="voc2012",
        description="Pascal VOC 2012 trainval: 21 classes, 1464 train / 1449 val segmentation masks (2.0 GB)",
        files=(RemoteFile(
            url="http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar",
            sha256="e14f763270cf193d0b5f74b169f44157a4b0c6efa708f4dd0ff78ee691763bcb",
            filename="VOCtrainval_11-May-2012.tar",
            size=1999639040,
        ),),
        layout="voc",
        subdir="voc2012",
        data_dir="VOCdevkit/VOC2012",
    ),
    "oxford-pet": DatasetSource(
        name="oxford-pet",
        description="Oxford-IIIT Pet: 7390 images of 37 breeds with pet/background/border trimaps (0.8 GB)",
        files=(
            RemoteFile(
                url="https://www.robots.ox.ac.uk/~vgg/data/pets/data/images.tar.gz",
                sha256="67195c5e1c01f1ab5f9b6a5d22b8c27a580d896ece458917e61d459337fa318d",
                filename="images.tar.gz",
                size=791918971,
            ),
            RemoteFile(
                url="https://www.robots.ox.ac.uk/~vgg/data/pets/data/annotations.tar.gz",
                sha256="52425fb6de5c424942b7626b428656fcbd798db970a937df61750c0f1d358e91",
                filename="annotations.tar.gz",
                size=19173078,
            ),
        ),
        layout="oxford-pet",
        subdir="oxford-pet",
    ),
    "cityscapes": DatasetSource(
        name="cityscapes",
        description="Cityscapes fine annotations: 19 classes, 2975 train / 500 val street scenes (needs a login)",
        files=(),
        layout="cityscapes",
        subdir="cityscapes",
        manual=_CITYSCAPES_MANUAL,
    ),
}


def list_datasets() -> list[str]:
    """Names of the datasets in `DATASETS`, sorted."""
    return sorted(DATASETS)


def get_source(name: str) -> DatasetSource:
    """The source called `name`; an unknown name raises DataError listing the valid ones."""
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; valid: {', '.join(list_datasets())}", kind="invalid")
    return DATASETS[name]


def manual_instructions(name: str, root: Path | None = None) -> str:
    """Full instructions for a dataset that must be downloaded by hand (first line: a summary)."""
    source = get_source(name)
    dest = str(root / source.subdir) if root is not None else f"ROOT/{source.subdir}"
    if source.manual is None:
        return f"{name} is downloaded automatically ({len(source.files)} file(s) into {dest}); no manual steps"
    return source.manual.format(dest=dest)


def download_dataset(name: str, root: Path, progress: bool = True, base_url: str | None = None,
                     deadline: float | None = None) -> Path:
    """Download, verify and unpack dataset `name` under `root`; returns the folder that holds the data.

    Archives go to ROOT/.downloads and are kept (a second run neither downloads nor unpacks them
    again). `base_url` replaces the scheme and host of every URL (a mirror, or a local test server).
    `deadline` is the most seconds each file may take (None: `default_deadline` of its size).
    """
    source = get_source(name)
    if source.manual is not None:
        raise DataError(manual_instructions(name, root).splitlines()[0], kind="manual")
    remotes = [rebase_url(f, base_url) if base_url else f for f in source.files]
    archives = [download_file(remote, root / ".downloads", progress, deadline=deadline) for remote in remotes]
    dest = root / source.subdir
    for remote, archive in zip(remotes, archives, strict=True):
        marker = dest / f".segen-extracted-{remote.filename}"
        if marker.is_file() and marker.read_text().strip() == remote.sha256:
            continue
        extract(archive, dest)
        write_atomic(marker, remote.sha256 + "\n")
    return dest / source.data_dir if source.data_dir else dest


def rebase_url(remote: RemoteFile, base_url: str) -> RemoteFile:
    """`remote` with the scheme and host of its URL replaced by `base_url` (which may add a path prefix)."""
    base, url = urllib.parse.urlsplit(base_url), urllib.parse.urlsplit(remote.url)
    path = base.path.rstrip("/") + url.path
    return replace(remote, url=urllib.parse.urlunsplit((base.scheme, base.netloc, path, url.query, "")))


# --------------------------------------------------------------------------------------------- download


def default_deadline(size: int | None) -> float:
    """Seconds a download of `size` bytes may take: `MIN_DEADLINE`, or longer at `MIN_RATE` for big files."""
    if size is None:
        return UNSIZED_DEADLINE
    return max(MIN_DEADLINE, size / MIN_RATE)


def download_file(remote: RemoteFile, folder: Path, progress: bool = True, chunk: int = 1 << 20,
                  deadline: float | None = None) -> Path:
    """Download `remote` into folder/remote.filename, resuming a `.part` file, and check its SHA-256.

    A final file that already has the right checksum is not downloaded again. A network error, or a
    download that takes longer than `deadline` seconds (None: `default_deadline`), raises DataError and
    keeps the `.part` file for the next run; a checksum mismatch removes it. A second download into
    the same `.part` file while this one runs is refused (kind "locked").
    """
    if deadline is not None and not deadline > 0:
        raise DataError(f"download deadline must be positive, got {deadline}", kind="invalid")
    clock = _Deadline.start(deadline if deadline is not None else default_deadline(remote.size))
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / remote.filename
    part = folder / (remote.filename + ".part")
    with part_lock(part, folder / (remote.filename + ".lock")):
        if final.is_file():
            if sha256_file(final) == remote.sha256:
                return final
            final.unlink()
        if remote.size is not None and part.is_file() and part.stat().st_size > remote.size:
            part.unlink()
        if remote.size is None or not part.is_file() or part.stat().st_size < remote.size:
            _fetch(remote, part, progress, chunk, clock)
        _verify(remote, part)
        os.replace(part, final)
    return final


@contextlib.contextmanager
def part_lock(part: Path, lock: Path) -> Iterator[None]:
    """Hold an exclusive lock on `lock` while downloading into `part`; refuse when another process holds it.

    The lock is `flock` on `lock` where the system has it (released by the system if the process dies),
    else the exclusive creation of `lock` (a crash leaves it behind; the refusal names it). The lock
    file is removed on release.
    """
    if fcntl is None:
        yield from _exclusive_file(part, lock)
        return
    handle = _flock(part, lock)
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)  # while still held: whoever opened it before locks a new file instead
        handle.close()


def _flock(part: Path, lock: Path) -> BinaryIO:
    """A handle of `lock` holding its exclusive flock (the file at that path now, not a removed one)."""
    assert fcntl is not None
    for _ in range(100):
        handle = lock.open("ab")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise _locked(part, lock) from None
        except OSError as exc:  # no flock on this file system
            handle.close()
            raise DataError(f"{part}: cannot lock {lock} ({exc.strerror or exc}); download into a local folder",
                            kind="locked", path=part) from None
        try:
            same = os.fstat(handle.fileno()).st_ino == lock.stat().st_ino
        except FileNotFoundError:
            same = False
        if same:
            return handle
        handle.close()  # its holder removed it just before we locked it: lock the new one
    raise _locked(part, lock)


def _exclusive_file(part: Path, lock: Path) -> Iterator[None]:
    """The lock as a file created exclusively, holding this process's id; removed on release."""
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        raise _locked(part, lock, stale_hint=True) from None
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(f"{os.getpid()}\n")
        yield
    finally:
        lock.unlink(missing_ok=True)


def _locked(part: Path, lock: Path, stale_hint: bool = False) -> DataError:
    hint = f"; if none is, delete {lock}" if stale_hint else f" (it holds {lock}); wait for it to finish"
    return DataError(f"{part}: another download into this file is running{hint}", kind="locked", path=part)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _verify(remote: RemoteFile, path: Path) -> None:
    actual = sha256_file(path)
    if actual != remote.sha256:
        path.unlink()
        raise DataError(f"{remote.url}: checksum mismatch (expected {remote.sha256}, got {actual}); "
                        "the file was removed, run the command again", kind="corrupt", path=path)


@dataclass(frozen=True)
class _Deadline:
    """When a download must be over: its length in seconds and the monotonic clock time it ends."""

    seconds: float
    end: float

    @classmethod
    def start(cls, seconds: float) -> _Deadline:
        return cls(seconds, time.monotonic() + seconds)

    def read_timeout(self, remote: RemoteFile) -> float:
        """Seconds one read may wait: `TIMEOUT`, or less when the deadline is nearer; raises once it is past."""
        left = self.end - time.monotonic()
        if left <= 0:
            raise DataError(f"{remote.url}: download took longer than {self.seconds:g} s (its deadline); the "
                            "part is kept: run the command again to resume, or allow more time with --deadline",
                            kind="timeout")
        return min(TIMEOUT, left)


def _fetch(remote: RemoteFile, part: Path, progress: bool, chunk: int, clock: _Deadline) -> None:
    """Download into `part`, appending to what it already holds when the server honours Range, until the deadline."""
    offset = part.stat().st_size if part.is_file() else 0
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(remote.url, headers=headers)
    received, total = 0, None
    try:
        with urllib.request.urlopen(request, timeout=clock.read_timeout(remote)) as resp:
            offset, total = _resume_point(remote, resp, offset)
            with part.open("ab" if offset else "wb") as out:
                received = _copy(resp, out, offset, total, remote.filename if progress else None, chunk,
                                 lambda: clock.read_timeout(remote))
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # nothing left to send: the .part is complete (or wrong: _verify says so)
            return
        raise DataError(f"{remote.url}: download failed (HTTP {exc.code} {exc.reason})", kind="network") from exc
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DataError(f"{remote.url}: download failed ({reason}); run the command again to resume",
                        kind="network") from exc
    if total is not None and received < total:
        raise DataError(f"{remote.url}: connection closed after {received} of {total} bytes; "
                        "run the command again to resume", kind="interrupted")





def _resume_point(remote: RemoteFile, resp: http.client.HTTPResponse, offset: int) -> tuple[int, int | None]:
    """Where the body starts in the file (0 when the server ignored Range) and the file's total size."""
    length = resp.headers.get("Content-Length")
    if not offset or resp.status != 206:
        return 0, int(length) if length else remote.size
    content_range = resp.headers.get("Content-Range", "")  # "bytes START-END/TOTAL"
    span, _, total = content_range.removeprefix("bytes ").partition("/")
    if span.partition("-")[0].strip() != str(offset):
        raise DataError(f"{remote.url}: the server resumed at {content_range!r} instead of byte {offset}; "
                        f"delete {remote.filename}.part and run the command again", kind="network")
    if total.strip().isdigit():
        return offset, int(total)
    return offset, offset + int(length) if length else remote.size


def _copy(resp: http.client.HTTPResponse, out: BinaryIO, offset: int, total: int | None,
          label: str | None, chunk: int, in_time: Callable[[], object]) -> int:
    """Copy the response body to `out` with a progress bar; returns the file size reached.

    `in_time` is called before every read and raises once the deadline is past; each read returns what
    one receive brings (at most `chunk` bytes), so a slow server cannot hold a read much past it.
    """
    received = offset
    with tqdm(total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024, desc=label,
              disable=label is None, leave=False) as bar:
        while True:
            in_time()
            block = resp.read1(chunk)
            if not block:
                break
            out.write(block)
            received += len(block)
            bar.update(len(block))
    return received

"""Downloading public datasets: resumable HTTP downloads, SHA-256 checks and safe archive extraction.

`download_dataset(name, root)` fetches the archives of a dataset listed in `DATASETS` into
ROOT/.downloads (an interrupted download resumes from its `.part` file on the next run), checks every
file against its published SHA-256, and unpacks the archives into ROOT/<subdir>. Datasets behind a
login (Cityscapes) have no files, only instructions (`manual_instructions`).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from tqdm import tqdm

from segen.errors import DataError

TIMEOUT = 60.0
USER_AGENT = "segen-download/1.0 (+https://pypi.org/project/segen)"


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
        raise DataError(f"unknown dataset {name!r}; valid: {', '.join(list_datasets())}")
    return DATASETS[name]


def manual_instructions(name: str, root: Path | None = None) -> str:
    """Full instructions for a dataset that must be downloaded by hand (first line: a summary)."""
    source = get_source(name)
    dest = str(root / source.subdir) if root is not None else f"ROOT/{source.subdir}"
    if source.manual is None:
        return f"{name} is downloaded automatically ({len(source.files)} file(s) into {dest}); no manual steps"
    return source.manual.format(dest=dest)


def download_dataset(name: str, root: Path, progress: bool = True, base_url: str | None = None) -> Path:
    """Download, verify and unpack dataset `name` under `root`; returns the folder that holds the data.

    Archives go to ROOT/.downloads and are kept (a second run neither downloads nor unpacks them
    again). `base_url` replaces the scheme and host of every URL (a mirror, or a local test server).
    """
    source = get_source(name)
    if source.manual is not None:
        raise DataError(manual_instructions(name, root).splitlines()[0])
    remotes = [rebase_url(f, base_url) if base_url else f for f in source.files]
    archives = [download_file(remote, root / ".downloads", progress) for remote in remotes]
    dest = root / source.subdir
    for remote, archive in zip(remotes, archives, strict=True):
        marker = dest / f".segen-extracted-{remote.filename}"
        if marker.is_file() and marker.read_text().strip() == remote.sha256:
            continue
        extract(archive, dest)
        marker.write_text(remote.sha256 + "\n")
    return dest / source.data_dir if source.data_dir else dest


def rebase_url(remote: RemoteFile, base_url: str) -> RemoteFile:
    """`remote` with the scheme and host of its URL replaced by `base_url` (which may add a path prefix)."""
    base, url = urllib.parse.urlsplit(base_url), urllib.parse.urlsplit(remote.url)
    path = base.path.rstrip("/") + url.path
    return replace(remote, url=urllib.parse.urlunsplit((base.scheme, base.netloc, path, url.query, "")))


# --------------------------------------------------------------------------------------------- download


def download_file(remote: RemoteFile, folder: Path, progress: bool = True, chunk: int = 1 << 20) -> Path:
    """Download `remote` into folder/remote.filename, resuming a `.part` file, and check its SHA-256.

    A final file that already has the right checksum is not downloaded again. A network error raises
    DataError and keeps the `.part` file for the next run; a checksum mismatch removes it.
    """
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / remote.filename
    if final.is_file():
        if sha256_file(final) == remote.sha256:
            return final
        final.unlink()
    part = folder / (remote.filename + ".part")
    if remote.size is not None and part.is_file() and part.stat().st_size > remote.size:
        part.unlink()
    if remote.size is None or not part.is_file() or part.stat().st_size < remote.size:
        _fetch(remote, part, progress, chunk)
    _verify(remote, part)
    os.replace(part, final)
    return final


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
                        "the file was removed, run the command again")


def _fetch(remote: RemoteFile, part: Path, progress: bool, chunk: int) -> None:
    """Download into `part`, appending to what it already holds when the server honours Range."""
    offset = part.stat().st_size if part.is_file() else 0
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(remote.url, headers=headers)
    received, total = 0, None
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as resp:
            offset, total = _resume_point(remote, resp, offset)
            with part.open("ab" if offset else "wb") as out:
                received = _copy(resp, out, offset, total, remote.filename if progress else None, chunk)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # nothing left to send: the .part is complete (or wrong: _verify says so)
            return
        raise DataError(f"{remote.url}: download failed (HTTP {exc.code} {exc.reason})") from exc
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DataError(f"{remote.url}: download failed ({reason}); run the command again to resume") from exc
    if total is not None and received < total:
        raise DataError(f"{remote.url}: connection closed after {received} of {total} bytes; "
                        "run the command again to resume")


def _resume_point(remote: RemoteFile, resp: http.client.HTTPResponse, offset: int) -> tuple[int, int | None]:
    """Where the body starts in the file (0 when the server ignored Range) and the file's total size."""
    length = resp.headers.get("Content-Length")
    if not offset or resp.status != 206:
        return 0, int(length) if length else remote.size
    content_range = resp.headers.get("Content-Range", "")  # "bytes START-END/TOTAL"
    span, _, total = content_range.removeprefix("bytes ").partition("/")
    if span.partition("-")[0].strip() != str(offset):
        raise DataError(f"{remote.url}: the server resumed at {content_range!r} instead of byte {offset}; "
                        f"delete {remote.filename}.part and run the command again")
    if total.strip().isdigit():
        return offset, int(total)
    return offset, offset + int(length) if length else remote.size


def _copy(resp: http.client.HTTPResponse, out: BinaryIO, offset: int, total: int | None,
          label: str | None, chunk: int) -> int:
    """Copy the response body to `out` with a progress bar; returns the file size reached."""
    received = offset
    with tqdm(total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024, desc=label,
              disable=label is None, leave=False) as bar:
        while block := resp.read(chunk):
            out.write(block)
            received += len(block)
            bar.update(len(block))
    return received


# --------------------------------------------------------------------------------------------- extract


def extract(archive: Path, dest: Path) -> None:
    """Unpack a tar (plain, gz, bz2, xz) or zip archive into `dest`, refusing unsafe member paths.

    The archive is unpacked into a temporary folder next to `dest` and moved into place, so a failed
    extraction leaves nothing half-written in `dest`; it merges with what `dest` holds (same names replaced).
    """
    if not archive.is_file():
        raise DataError(f"{archive}: archive not found")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".extracting", dir=dest.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; it may become `dest` itself
    try:
        if zipfile.is_zipfile(archive):
            _extract_zip(archive, tmp)
        elif tarfile.is_tarfile(archive):
            _extract_tar(archive, tmp)
        else:
            raise DataError(f"{archive}: not a tar or zip archive")
        _move_into(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _unsafe(name: str) -> bool:
    """Whether an archive member path is absolute or climbs out of the destination."""
    path = PurePosixPath(name.replace("\\", "/"))
    return path.is_absolute() or ".." in path.parts or (len(name) > 1 and name[1] == ":")


def _extract_tar(archive: Path, tmp: Path) -> None:
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            for member in members:
                if _unsafe(member.name) or ((member.issym() or member.islnk()) and _unsafe(member.linkname)):
                    raise DataError(f"{archive}: unsafe member {member.name!r} (absolute path or '..'); "
                                    "refusing to extract")
            if hasattr(tarfile, "data_filter"):
                tar.extractall(tmp, members, filter="data")
            else:  # pragma: no cover - Python without the extraction filters (< 3.10.12 / 3.11.4)
                tar.extractall(tmp, members)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DataError(f"{archive}: cannot extract ({exc}); delete it and run the command again") from exc


def _extract_zip(archive: Path, tmp: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                if _unsafe(name):
                    raise DataError(f"{archive}: unsafe member {name!r} (absolute path or '..'); refusing to extract")
            zf.extractall(tmp)
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise DataError(f"{archive}: cannot extract ({exc}); delete it and run the command again") from exc


def _move_into(tmp: Path, dest: Path) -> None:
    """Rename the unpacked tree into `dest`: the whole folder when `dest` does not exist yet, else merged."""
    if not dest.exists():
        tmp.rename(dest)
    elif not dest.is_dir():
        raise DataError(f"{dest}: exists and is not a folder")
    else:
        _merge(tmp, dest)


def _merge(src: Path, dst: Path) -> None:
    """Move the entries of `src` into the folder `dst`, recursing into folders both have; files are replaced."""
    for entry in sorted(src.iterdir()):
        target = dst / entry.name
        if entry.is_dir() and target.is_dir() and not target.is_symlink():
            _merge(entry, target)
            continue
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
        entry.rename(target)

"""Safe archive extraction: tar (plain, gz, bz2, xz) and zip, refusing members that climb out of the destination.

Archives are unpacked into a temporary folder beside the destination and then moved into place, so a failed
extraction leaves nothing half-written.
"""

from __future__ import annotations

import shutil
import tarfile
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from segen.errors import DataError


def extract(archive: Path, dest: Path) -> None:
    """Unpack a tar (plain, gz, bz2, xz) or zip archive into `dest`, refusing unsafe member paths.

    The archive is unpacked into a temporary folder next to `dest` and moved into place, so a failed
    extraction leaves nothing half-written in `dest`; it merges with what `dest` holds (same names replaced).
    """
    if not archive.is_file():
        raise DataError(f"{archive}: archive not found", kind="missing", path=archive)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".extracting", dir=dest.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; it may become `dest` itself
    try:
        if zipfile.is_zipfile(archive):
            _extract_zip(archive, tmp)
        elif tarfile.is_tarfile(archive):
            _extract_tar(archive, tmp)
        else:
            raise DataError(f"{archive}: not a tar or zip archive", kind="corrupt", path=archive)
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
                                    "refusing to extract", kind="unsafe", path=archive)
            if hasattr(tarfile, "data_filter"):
                tar.extractall(tmp, members, filter="data")
            else:  # pragma: no cover - Python without the extraction filters (< 3.10.12 / 3.11.4)
                tar.extractall(tmp, members)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DataError(f"{archive}: cannot extract ({exc}); delete it and run the command again", kind="corrupt",
                        path=archive) from exc


def _extract_zip(archive: Path, tmp: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                if _unsafe(name):
                    raise DataError(f"{archive}: unsafe member {name!r} (absolute path or '..'); refusing to extract",
                                    kind="unsafe", path=archive)
            zf.extractall(tmp)
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise DataError(f"{archive}: cannot extract ({exc}); delete it and run the command again", kind="corrupt",
                        path=archive) from exc


def _move_into(tmp: Path, dest: Path) -> None:
    """Rename the unpacked tree into `dest`: the whole folder when `dest` does not exist yet, else merged."""
    if not dest.exists():
        tmp.rename(dest)
    elif not dest.is_dir():
        raise DataError(f"{dest}: exists and is not a folder", kind="exists", path=dest)
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

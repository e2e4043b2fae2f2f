"""Atomic file publication: temporary names, fsync and rename.

A file is written under a temporary name that starts with `_tmp-` and ends with `.partial`, so
neither pyarrow.dataset (which skips names starting with `_` or `.`) nor a `*.parquet` glob in
DuckDB or polars matches it. It becomes visible only through a rename after its content and the
directory entry are on disk.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from cranium_etl.storage.errors import StorageWriteError

log = logging.getLogger(__name__)

TEMP_PREFIX = "_tmp-"
TEMP_SUFFIX = ".partial"

# Options shared by every Parquet file this package writes, so files are alike across layers.
PARQUET_OPTIONS: dict[str, Any] = {"compression": "zstd", "write_statistics": True}


def temp_path(directory: Path, stem: str) -> Path:
    """Return an unused temporary path in `directory` that records the writing process id."""
    return directory / f"{TEMP_PREFIX}{stem}-{os.getpid()}-{secrets.token_hex(4)}{TEMP_SUFFIX}"


def is_temp_name(name: str) -> bool:
    return name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX)


def temp_owner_pid(name: str) -> int | None:
    """Return the process id recorded in a temporary file name, or None if there is none."""
    parts = name[: -len(TEMP_SUFFIX)].split("-")
    if len(parts) < 3:
        return None
    try:
        return int(parts[-2])
    except ValueError:
        return None


def remove_temp_files(directory: Path, *, keep_own_process: bool = False) -> list[Path]:
    """Delete temporary files left in `directory` by writers that did not finish.

    By default only files whose recorded process no longer runs are removed, because a live
    writer may still use the others. With `keep_own_process` (for the holder of the sync lock,
    the only legitimate writer) every file not written by this process is removed. Return the
    removed paths.
    """
    removed: list[Path] = []
    try:
        entries = list(directory.iterdir())
    except FileNotFoundError:
        return removed

    for path in entries:
        if not is_temp_name(path.name):
            continue
        owner = temp_owner_pid(path.name)
        if owner == os.getpid():
            continue
        if not keep_own_process and _process_exists(owner):
            continue
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as error:
            log.warning("could not remove unfinished temporary file %s: %s", path, error)
            continue
        log.info("removed unfinished temporary file %s left by an interrupted writer", path)
        removed.append(path)
    return removed


def _process_exists(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def ensure_directory(path: Path, action: str) -> None:
    """Create `path` and its parents, raising StorageWriteError with the reason on failure."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StorageWriteError(action, path, error) from error
    if not path.is_dir():
        raise StorageWriteError(action, path, NotADirectoryError(errno.ENOTDIR, "not a directory"))


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_directory(path: Path) -> None:
    """Flush a directory entry change (create, rename) to disk."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(temp: Path, final: Path, *, replace: bool) -> None:
    """Flush `temp` to disk and rename it to `final` atomically, then flush the directory.

    Without `replace`, raise FileExistsError when `final` exists and keep the temporary file for
    the caller to reuse or remove. OSError from the file system propagates.
    """
    fsync_file(temp)
    if replace:
        os.replace(temp, final)
    else:
        # A hard link fails with EEXIST instead of overwriting, which os.rename would do.
        try:
            os.link(temp, final)
        except OSError as error:
            if error.errno in (errno.EEXIST,):
                raise FileExistsError(errno.EEXIST, "file exists", str(final)) from error
            if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                raise
            # NOTE: without hard links the existence check and the rename are two steps. Only
            # the sync lock keeps two writers from committing the same name between them.
            if final.exists():
                raise FileExistsError(errno.EEXIST, "file exists", str(final)) from error
            os.rename(temp, final)
        else:
            temp.unlink()
    fsync_directory(final.parent)


def write_table_atomically(
    table: pa.Table, final: Path, *, action: str, metadata: dict[str, str] | None = None
) -> None:
    """Write `table` to `final` through a temporary file so readers see all of it or nothing.

    An existing file at `final` is replaced. On failure the temporary file is removed, the
    previous file (if any) is unchanged and StorageWriteError names the path and the reason.
    Temporary files in the folder whose writer process no longer runs are removed first.
    """
    ensure_directory(final.parent, action)
    remove_temp_files(final.parent)
    if metadata:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})

    temp = temp_path(final.parent, final.stem)
    try:
        pq.write_table(table, temp, **PARQUET_OPTIONS)
        publish(temp, final, replace=True)
    except OSError as error:
        discard(temp)
        raise StorageWriteError(action, final, error) from error
    except BaseException:
        discard(temp)
        raise


def discard(path: Path) -> None:
    """Delete `path` if it exists, logging instead of raising when that fails."""
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as error:
        log.warning("could not remove temporary file %s: %s", path, error)

"""Cross-process lock that lets one sync at a time write to a data directory."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import filelock

from cranium_etl.storage.errors import StorageWriteError, StoreLockedError

LOCK_FILE_NAME = ".cranium-etl-sync.lock"


class SyncLock:
    """Context manager holding the data directory's sync lock (an OS file lock via filelock).

    The operating system releases the lock when the holding process exits, killed or not, so a
    crashed sync never leaves the directory locked. `on_acquire` runs right after the lock is
    taken; the raw store uses it to remove temporary files of interrupted writers.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        timeout: float = 0,
        on_acquire: Callable[[], object] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.path = data_dir / LOCK_FILE_NAME
        self.timeout = timeout
        self._on_acquire = on_acquire
        self._lock = filelock.FileLock(self.path, thread_local=False)

    @property
    def is_locked(self) -> bool:
        return self._lock.is_locked

    def acquire(self) -> None:
        """Take the lock, raising StoreLockedError if another holder keeps it past `timeout`."""
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._lock.acquire(timeout=self.timeout)
        except filelock.Timeout:
            raise StoreLockedError(
                f"data directory {self.data_dir} is locked by another sync "
                f"(lock file {self.path}, waited {self.timeout:g} s); wait for that sync to "
                "finish, or stop it, then run again"
            ) from None
        except OSError as error:
            raise StorageWriteError("taking the sync lock", self.path, error) from error

        if self._on_acquire is not None:
            try:
                self._on_acquire()
            except BaseException:
                self._lock.release()
                raise

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> SyncLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"SyncLock({os.fspath(self.path)!r}, locked={self.is_locked})"

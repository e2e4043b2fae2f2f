"""Exceptions raised by the storage layer."""

from __future__ import annotations

import errno
import os


class StorageError(Exception):
    """Base class of the storage layer's errors."""


class StoreLockedError(StorageError):
    """Another process holds the data directory's sync lock."""


class StorageWriteError(StorageError):
    """Writing a file failed. The data that was already committed is unchanged."""

    def __init__(self, action: str, path: os.PathLike[str] | str, error: OSError) -> None:
        self.action = action
        self.path = str(path)
        self.errno = error.errno
        super().__init__(f"{action} failed at {self.path}: {_describe(error)}")


def _describe(error: OSError) -> str:
    reason = error.strerror or str(error)
    if error.errno == errno.ENOSPC:
        return (
            f"{reason}; free disk space or move the data directory to a larger volume, "
            "then run again. Committed batches, snapshots and the stored cursor are unchanged"
        )
    if error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return (
            f"{reason}; make the data directory writable for this user (or point the data "
            "directory setting at a writable path), then run again. Committed batches, "
            "snapshots and the stored cursor are unchanged"
        )
    if error.errno in (errno.ENOTDIR, errno.EEXIST):
        return (
            f"{reason}; a file is in the way of a directory the store needs. Move it away "
            "or choose another data directory"
        )
    return f"{reason}; committed batches, snapshots and the stored cursor are unchanged"


class RecordError(ValueError):
    """An API record is invalid, so nothing from its batch may be written.

    `index` is the record's position in the list passed to `records_to_table`, and `bom_id` is
    its billOfMaterialsId when that field is a usable string. The caller may set `request_id` (the
    API's meta.requestId), which the message then includes.
    """

    def __init__(self, index: int, bom_id: str | None, field: str, problem: str) -> None:
        self.index = index
        self.bom_id = bom_id
        self.field = field
        self.problem = problem
        self.request_id: str | None = None
        super().__init__(self._message())

    def with_request_id(self, request_id: str | None) -> RecordError:
        """Set the API request id that delivered the record and return this error."""
        self.request_id = request_id
        self.args = (self._message(),)
        return self

    def _message(self) -> str:
        where = f"record {self.index}"
        if self.bom_id is not None:
            where += f" (billOfMaterialsId={self.bom_id})"
        if self.request_id is not None:
            where += f" in response requestId={self.request_id}"
        return f"invalid {where}: field {self.field} {self.problem}"

    def __str__(self) -> str:
        return self._message()

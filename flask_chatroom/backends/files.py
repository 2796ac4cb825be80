"""Where uploaded files' bytes are kept, besides the chat's database
(:class:`~flask_chatroom.backends.sql.SQLFileStorage`, the default): a
directory (``CHATROOM_ATTACHMENT_DIR``) and this process's memory."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import threading
from collections.abc import Collection

from .interfaces import FileStorage

_KEY = re.compile(r"[0-9a-f]{32}(\.thumb)?")


def _checked(key: str) -> str:
    # Keys are upload ids the server made (hex), never a client's string;
    # anything else would be a path to refuse.
    if _KEY.fullmatch(key) is None:
        raise ValueError(f"not a file key: {key!r}")
    return key


class DirectoryFileStorage(FileStorage):
    """Files in a directory: ``<dir>/<first two characters>/<key>``. Several
    processes share it when they share the directory (one machine, or a
    shared file system). Each file is written to a temporary name and renamed,
    so a reader never sees half a file.

    :param path: the directory (made when missing).
    """

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)

    def _file(self, key: str) -> str:
        key = _checked(key)
        return os.path.join(self.path, key[:2], key)

    def save(self, key: str, data: bytes) -> None:
        target = self._file(key)
        folder = os.path.dirname(target)
        os.makedirs(folder, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".upload-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise

    def load(self, key: str) -> bytes | None:
        try:
            with open(self._file(key), "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            return None

    def delete(self, keys: Collection[str]) -> None:
        for key in keys:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._file(key))


class MemoryFileStorage(FileStorage):
    """Files in this process's memory (with ``memory://``): gone when it exits."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[str, bytes] = {}

    def save(self, key: str, data: bytes) -> None:
        with self._lock:
            self._files[key] = data

    def load(self, key: str) -> bytes | None:
        with self._lock:
            return self._files.get(key)

    def delete(self, keys: Collection[str]) -> None:
        with self._lock:
            for key in keys:
                self._files.pop(key, None)

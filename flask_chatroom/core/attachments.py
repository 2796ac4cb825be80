"""Uploaded files: storing what :mod:`~flask_chatroom.uploads` accepted,
reading them back, removing them, and the housekeeping that removes uploads
nobody sent. Who may do any of it is the service's business."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable

from ..backends.interfaces import FileStorage, Upload, Uploads
from ..protocol import Attachment, now_ms
from ..uploads import CheckedFile
from .runtime import Realtime

log = logging.getLogger("flask_chatroom")

#: How long an upload may wait to be sent before housekeeping removes it (ms).
UNSENT_TTL_MS = 3600 * 1000
#: How often the housekeeping task looks for uploads to remove (seconds).
SWEEP_EVERY = 300.0

#: An upload id -> (its file's URL, its thumbnail's URL).
UrlsFor = Callable[[str], tuple[str, str]]


class AttachmentKeeper:
    """Keeps uploads' records (:class:`Uploads`) and bytes (:class:`FileStorage`)
    in step: files are written before their record (a record never names a
    missing file) and removed after it.

    :param uploads: the records, beside the message store.
    :param files: the bytes.
    """

    def __init__(self, uploads: Uploads, files: FileStorage) -> None:
        self.uploads = uploads
        self.files = files
        self._sweeping = False

    def keep(
        self, checked: CheckedFile, room: str, uploader_id: str, urls: UrlsFor
    ) -> Upload:
        """Store an accepted file (and its thumbnail) for *uploader_id* in *room*,
        not sent yet; returns its record."""
        upload_id = os.urandom(16).hex()
        url, thumbnail_url = urls(upload_id)
        attachment = Attachment(
            id=upload_id,
            name=checked.name,
            size=len(checked.data),
            type=checked.type,
            url=url,
            width=checked.width,
            height=checked.height,
            thumbnail_url=thumbnail_url if checked.thumbnail is not None else None,
        )
        upload = Upload(
            attachment=attachment,
            room=room,
            uploader_id=uploader_id,
            ts=now_ms(),
            inline=checked.inline,
            thumbnail=checked.thumbnail is not None,
        )
        self.files.save(upload.id, checked.data)
        if checked.thumbnail is not None:
            self.files.save(upload.id + ".thumb", checked.thumbnail)
        try:
            self.uploads.add(upload)
        except BaseException:
            self.files.delete(upload.keys)
            raise
        return upload

    def content(self, upload: Upload, thumbnail: bool = False) -> bytes | None:
        """The bytes of *upload* (or of its thumbnail)."""
        if thumbnail:
            return self.files.load(upload.id + ".thumb") if upload.thumbnail else None
        return self.files.load(upload.id)

    def remove(self, uploads: Iterable[Upload]) -> int:
        """Forget *uploads* and delete their files; returns how many."""
        found = list(uploads)
        if found:
            self.uploads.remove([upload.id for upload in found])
            self.files.delete([key for upload in found for key in upload.keys])
        return len(found)

    def remove_ids(self, upload_ids: Iterable[str]) -> int:
        """:meth:`remove` by id (ids that are unknown are skipped)."""
        found = [self.uploads.get(upload_id) for upload_id in upload_ids]
        return self.remove(upload for upload in found if upload is not None)

    def sweep(self, now: int | None = None) -> int:
        """Remove uploads not sent within :data:`UNSENT_TTL_MS`, and those of
        messages deleted or purged; returns how many."""
        unsent_before = (now_ms() if now is None else now) - UNSENT_TTL_MS
        removed = 0
        while True:
            batch = self.uploads.expired(unsent_before)
            if not batch:
                return removed
            removed += self.remove(batch)

    def start_housekeeping(self, realtime: Realtime) -> None:
        """Run :meth:`sweep` every :data:`SWEEP_EVERY` seconds in a background
        task (once per process; several processes sweeping is harmless)."""
        if self._sweeping:
            return
        self._sweeping = True
        realtime.start_task(self._housekeep, realtime)

    def stop_housekeeping(self) -> None:
        """End the housekeeping task (after its current sleep)."""
        self._sweeping = False

    def _housekeep(self, realtime: Realtime) -> None:
        while self._sweeping:
            realtime.sleep(SWEEP_EVERY)
            if not self._sweeping:
                return
            try:
                removed = self.sweep()
            except Exception:
                log.exception("chat: attachment housekeeping failed; retrying")
                continue
            if removed:
                log.info("chat: removed %d unsent or orphaned upload(s)", removed)

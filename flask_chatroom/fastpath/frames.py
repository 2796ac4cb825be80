"""What a client may send on a Socket.IO WebSocket, checked on the bytes as they
are read, before any WebSocket library puts a message together.

Both WebSocket paths use it: the direct writer (:mod:`.websocket`) feeds every
read to a :class:`FrameGuard`, and the transport middleware (:mod:`.middleware`)
does the same in the socket it hands simple-websocket. Engine.IO's own limit
(``max_http_buffer_size``) is checked only once a whole message is in memory,
and counts characters of text, not bytes; an empty fragment adds nothing to it.
Here a message is measured by the payload lengths its frame headers announce
(the UTF-8 bytes, before any of them arrive) and by its number of frames.
"""

from __future__ import annotations

import struct

#: The most frames one message may come in. Browsers and the Socket.IO clients
#: send every message in one frame; a client that sends many (empty) fragments
#: only makes the server keep and count them.
MAX_FRAGMENTS = 64

#: WebSocket close codes (RFC 6455, section 7.4.1).
POLICY_VIOLATION = 1008
MESSAGE_TOO_BIG = 1009

_CONTINUATION, _TEXT, _BINARY = 0x0, 0x1, 0x2


class FrameGuard:
    """Follows the frame headers of a client's WebSocket byte stream.

    :param max_bytes: the most bytes one message may have (the Engine.IO
        server's ``max_http_buffer_size``), or ``None`` for no limit.
    :param max_fragments: the most frames one message may come in.

    :meth:`feed` every chunk read from the socket, in order, starting right
    after the handshake. It skips payloads by arithmetic, so its cost is per
    frame, not per byte.
    """

    __slots__ = (
        "_fragments",
        "_header",
        "_message",
        "_skip",
        "max_bytes",
        "max_fragments",
    )

    def __init__(
        self, max_bytes: int | None, max_fragments: int = MAX_FRAGMENTS
    ) -> None:
        self.max_bytes = max_bytes
        self.max_fragments = max_fragments
        self._header = b""  # the start of a header split across reads
        self._skip = 0  # payload bytes of the current frame still to come
        self._message = 0  # bytes of the message so far
        self._fragments = 0  # its frames so far

    def feed(self, data: bytes) -> tuple[int, str] | None:
        """Account for *data*; the close code and reason if the client broke a
        limit (the connection must then be closed), else ``None``."""
        end = len(data)
        pos = 0
        while pos < end:
            if self._skip:
                step = min(self._skip, end - pos)
                self._skip -= step
                pos += step
                continue
            if self._header:
                data = self._header + data[pos:]
                end, pos, self._header = len(data), 0, b""
            if end - pos < 2:
                self._header = bytes(data[pos:])
                return None
            first, second = data[pos], data[pos + 1]
            size = second & 0x7F
            need = 2 + (2 if size == 126 else 8 if size == 127 else 0)
            need += 4 if second & 0x80 else 0
            if end - pos < need:
                self._header = bytes(data[pos:])
                return None
            if size == 126:
                (size,) = struct.unpack_from("!H", data, pos + 2)
            elif size == 127:
                (size,) = struct.unpack_from("!Q", data, pos + 2)
            pos += need
            self._skip = size
            if first & 0x0F in (_CONTINUATION, _TEXT, _BINARY):
                problem = self._count(size, bool(first & 0x80))
                if problem is not None:
                    return problem
            # Control frames (close, ping, pong) are not part of a message;
            # the WebSocket library refuses long or fragmented ones.
        return None

    def _count(self, size: int, final: bool) -> tuple[int, str] | None:
        self._message += size
        self._fragments += 1
        if self.max_bytes is not None and self._message > self.max_bytes:
            return MESSAGE_TOO_BIG, "message too big"
        if self._fragments > self.max_fragments:
            return MESSAGE_TOO_BIG, "message in too many fragments"
        if final:
            self._message = self._fragments = 0
        return None


def close_frame(code: int, reason: str) -> bytes:
    """An unmasked server close frame with *code* and *reason*."""
    payload = struct.pack("!H", code) + reason.encode()[:123]
    return bytes([0x88, len(payload)]) + payload


#: Engine.IO packet types a client sends besides ``4`` (message): close, ping,
#: pong, upgrade, noop. Their data is at most a short word (``2probe``).
_CONTROL_TYPES = frozenset("12356")
_CONTROL_MAX = 16


def engineio_problem(message: str | bytes) -> str | None:
    """Why a WebSocket message is not an Engine.IO packet a client sends, or
    ``None`` when it is one.

    python-engineio logs a traceback for an empty message or an unknown type,
    and decodes the JSON of a control packet's data (where a deep array raises
    ``RecursionError``). Binary messages are left to Socket.IO's checks.
    """
    if isinstance(message, (bytes, bytearray)):
        return None
    if not message:
        return "an empty Engine.IO packet"
    kind = message[0]
    if kind == "4":
        return None
    if kind in _CONTROL_TYPES and len(message) <= _CONTROL_MAX:
        return None
    return "not an Engine.IO packet a client sends"

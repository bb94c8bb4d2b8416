"""Server-Sent Events, decoded incrementally from arbitrary byte chunks.

Follows the WHATWG event-stream rules that matter for OpenRouter: lines end in CRLF, LF or CR
(a CR at the end of one chunk may pair with an LF at the start of the next), ``data:`` lines
accumulate, a blank line dispatches the event, lines starting with ``:`` are comments
(OpenRouter sends ``: OPENROUTER PROCESSING`` as keep-alive), one space after the colon is
dropped. Lines are split on bytes before decoding, so a UTF-8 character cut across two network
reads is reassembled intact.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Event:
    data: str
    event: str = "message"
    id: str | None = None


@dataclass(frozen=True, slots=True)
class Comment:
    """A comment line: carries no data, but proves the connection is alive."""

    text: str


class SSEDecoder:
    """Feed bytes in, get complete events and comments out."""

    def __init__(self) -> None:
        self._buffer = b""
        self._pending_cr = False
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None

    def feed(self, chunk: bytes) -> list[Event | Comment]:
        if not chunk:
            return []
        if self._pending_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]  # the LF of a CRLF split across reads
        self._pending_cr = False
        self._buffer += chunk
        out: list[Event | Comment] = []
        while True:
            cut = _line_end(self._buffer)
            if cut is None:
                return out
            end, width = cut
            if width == 1 and self._buffer[end] == 0x0D and end + 1 == len(self._buffer):
                self._pending_cr = True  # may be the first half of CRLF
            line = self._buffer[:end].decode("utf-8", errors="replace")
            self._buffer = self._buffer[end + width :]
            item = self._process(line)
            if item is not None:
                out.append(item)

    def close(self) -> list[Event | Comment]:
        """End of stream: a final unterminated line is processed; an undispatched event is
        dropped, as the spec requires."""
        out: list[Event | Comment] = []
        if self._buffer:
            item = self._process(self._buffer.decode("utf-8", errors="replace"))
            self._buffer = b""
            if isinstance(item, Comment):
                out.append(item)
        return out

    def _process(self, line: str) -> Event | Comment | None:
        if not line:
            if not self._data:
                self._event = ""
                return None
            event = Event("\n".join(self._data), self._event or "message", self._id)
            self._data, self._event = [], ""
            return event
        if line.startswith(":"):
            return Comment(line[1:].strip())
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
        return None


def _line_end(buffer: bytes) -> tuple[int, int] | None:
    """Index and width of the first line terminator, or None if there is none yet."""
    lf = buffer.find(b"\n")
    cr = buffer.find(b"\r")
    if cr == -1 and lf == -1:
        return None
    if cr == -1 or (lf != -1 and lf < cr):
        return lf, 1
    if cr + 1 < len(buffer) and buffer[cr + 1] == 0x0A:
        return cr, 2
    return cr, 1


async def aiter_sse(chunks: AsyncIterator[bytes]) -> AsyncGenerator[Event | Comment, None]:
    decoder = SSEDecoder()
    async for chunk in chunks:
        for item in decoder.feed(chunk):
            yield item
    for item in decoder.close():
        yield item

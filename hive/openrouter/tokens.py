"""A rough token count (about four characters a token) where the server's count is not known:
the simulator's usage report and hive's pre-run estimates. Real tokenizers differ by model;
the README states the margin this gives."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

PER_MESSAGE_OVERHEAD = 4  # role markers and separators the chat format adds per message


def approx_tokens(text: str) -> int:
    return max(1, len(text) // 4)


def message_tokens(messages: Iterable[Mapping[str, object]]) -> int:
    return sum(approx_tokens(str(m.get("content", ""))) + PER_MESSAGE_OVERHEAD for m in messages)

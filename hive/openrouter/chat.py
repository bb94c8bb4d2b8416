"""Chat requests and the reducer that turns OpenRouter's streamed chunks into one completion.

Layers: bytes → SSE events (sse.py) → chunk dicts → ``TextDelta`` / ``ReasoningDelta`` /
``KeepAlive`` while the stream runs, and one ``Completion`` at the end. A thinking model's
reasoning (``delta.reasoning``, or the text of ``delta.reasoning_details`` entries when only they
carry it; real captures send the same text in both, so one is read, never both) streams as
``ReasoningDelta``: it is shown, never part of the answer.

The reducer accepts both usage layouts (the docs' last chunk with ``choices: []``, and real
captures' chunk with one empty-delta choice) and both in-band error layouts (the docs'
``finish_reason: "error"`` without ``[DONE]``, and the real capture's error beside ``usage``
followed by ``[DONE]``).

A ``data:`` line that is not a JSON object is skipped with a warning, not fatal: the server
goes on streaming, and billing, after it, so aborting would throw away a call already paid
for. Only a stream that is mostly garbage (``MAX_SKIPPED`` lines) is given up on. An answer
is whole only when the model said why it stopped: a stream that ends, ``[DONE]`` or not,
without a ``finish_reason`` is a broken stream.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from hive.errors import ApiFailure, StreamError
from hive.openrouter.error_bodies import error_from_chunk
from hive.text import shorten

MAX_CALL_COST = Decimal(100_000)  # USD; anything larger is a malformed report, not a bill
MAX_SKIPPED = 20  # malformed data lines tolerated in one stream; one more and it is broken
QUOTE_WIDTH = 80  # characters of a skipped line quoted in its warning

F = TypeVar("F", bound=ApiFailure)


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: str
    messages: list[dict[str, str]]
    temperature: float | None = None
    max_tokens: int | None = None
    fallbacks: tuple[str, ...] = ()  # OpenRouter tries these, in order, if `model` fails
    # OpenRouter's integer `seed`: one model asked several times (a generator listed more than
    # once) gets a different seed per call, so its drafts differ (a provider without seed
    # support ignores it, and the drafts then differ only as sampling makes them).
    seed: int | None = None
    # OpenRouter's own request fields, already in their documented shape (the profile's
    # specs build them): ``reasoning`` (effort or a token budget, or exclude), ``provider``
    # (routing preferences) and ``tools`` (its web search server tool). None: not sent.
    reasoning: dict[str, Any] | None = None
    provider: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "messages": self.messages, "stream": True}
        if self.fallbacks:
            body["models"] = list(self.fallbacks)
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        if self.seed is not None:
            body["seed"] = self.seed
        if self.reasoning is not None:
            body["reasoning"] = self.reasoning
        if self.provider is not None:
            body["provider"] = self.provider
        if self.tools is not None:
            body["tools"] = self.tools
        return body


@dataclass(frozen=True, slots=True)
class Source:
    """A web page a model's answer cites: a ``url_citation`` annotation (OpenRouter's web
    search returns them), its title when the server gave one."""

    url: str
    title: str | None = None


@dataclass(frozen=True, slots=True)
class TextDelta:
    """Text as it streams; ``model`` is who the chunks so far say answers (OpenRouter names the
    model it fell back to there), so a caller can tell a server-side fallback as it happens."""

    text: str
    model: str | None = None


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """Reasoning ("thinking") text as it streams: model output to show, never answer text."""

    text: str


@dataclass(frozen=True, slots=True)
class KeepAlive:
    """A comment or a content-free chunk: the stream is alive but has nothing to show.

    Yielded rather than swallowed because it says something text cannot: every item of a
    stream comes after the server's 200, so a keep-alive is the first sign that the request
    was accepted (and may be billed) before any text arrives; the caller records a call
    cancelled then as accepted. The client's timeouts do not depend on it: the idle timeout
    is the socket's, and the first-token deadline counts only answer or reasoning text."""


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    model: str | None
    provider: str | None
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    cost: Decimal | None
    generation_id: str | None
    warnings: tuple[str, ...] = ()  # what was wrong with the stream, though it completed
    # Prompt tokens read from / written to the provider's prompt cache, from the usage
    # object's ``prompt_tokens_details`` (None: the server did not say, which is not 0).
    cached_tokens: int | None = None
    cache_write_tokens: int | None = None
    # What caching saved (negative when a cache write cost extra). OpenRouter documents
    # ``cache_discount`` for the /generation endpoint only, not in the streamed usage object
    # (Usage Accounting lists none, and the captures have none), so the reducer never fills
    # it: a made-up figure would be worse than an unknown one. It is here so a later lookup
    # of the generation can carry it through to history.
    cache_discount: Decimal | None = None
    # Completion tokens spent reasoning, from ``usage.completion_tokens_details`` (None: not
    # reported). They are part of ``completion_tokens``, not on top of it.
    reasoning_tokens: int | None = None
    # Web searches the server ran for the call (``usage.server_tool_use_details
    # .web_search_requests``; None: not reported) and the pages it cited, in order, once each.
    web_searches: int | None = None
    sources: tuple[Source, ...] = ()


StreamItem = TextDelta | ReasoningDelta | KeepAlive | Completion


@dataclass
class ChunkReducer:
    """Accumulates chunks; ``finish()`` yields the Completion or raises the typed error."""

    parts: list[str] = field(default_factory=list)
    model: str | None = None
    provider: str | None = None
    generation_id: str | None = None
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    error: ApiFailure | None = None
    done: bool = False
    accepted: bool = False  # the server answered 200: a failure from here on may be billed
    warnings: list[str] = field(default_factory=list)
    skipped: int = 0  # malformed data lines passed over
    # Applied to a skipped line before it is shortened and quoted (the client masks the key
    # here: a cut key would no longer be recognised as one).
    clean: Callable[[str], str] = str
    # The model has written something, answer or reasoning: it is answering, not waiting.
    began: bool = False
    sources: dict[str, Source] = field(default_factory=dict)  # by url, first title kept
    _held: str = ""  # a high surrogate waiting for its low half
    _held_reasoning: str = ""  # the same, in the reasoning text

    def feed(self, data: str) -> TextDelta | ReasoningDelta | KeepAlive:
        """What one ``data:`` line adds. A chunk that carries answer text and reasoning at
        once (not seen in captures) yields its answer text: the answer is what must be whole."""
        if data.strip() == "[DONE]":
            self.done = True
            return KeepAlive()
        try:
            chunk = json.loads(data, parse_float=Decimal)
        except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
            return self._skip("malformed", data)
        if not isinstance(chunk, dict):
            return self._skip("unexpected", data)
        self.generation_id = _str(chunk.get("id")) or self.generation_id
        self.model = _str(chunk.get("model")) or self.model
        self.provider = _str(chunk.get("provider")) or self.provider
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        text = reasoning = ""
        choices = chunk.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            choice = choices[0]
            delta = choice.get("delta")
            if isinstance(delta, dict):
                if isinstance(delta.get("content"), str):
                    text = delta["content"]
                reasoning = _reasoning(delta)
                self._cite(delta.get("annotations"))
            message = choice.get("message")  # a whole message (a non-streaming body's layout)
            if isinstance(message, dict):
                self._cite(message.get("annotations"))
            reason = choice.get("finish_reason")
            if isinstance(reason, str):
                self.finish_reason = reason
            if (
                choice.get("error") is not None
            ):  # non-standard but documented for non-streaming bodies
                self.error = error_from_chunk(choice["error"], self.provider)
        if chunk.get("error") is not None:
            self.error = error_from_chunk(chunk["error"], self.provider)
        text, self._held = _whole_characters(self._held, text)
        reasoning, self._held_reasoning = _whole_characters(self._held_reasoning, reasoning)
        if text or reasoning:
            self.began = True
        if text:
            self.parts.append(text)
            return TextDelta(text, self.model)
        if reasoning:
            return ReasoningDelta(reasoning)
        return KeepAlive()

    def _cite(self, annotations: object) -> None:
        """Keep the ``url_citation`` annotations of a delta or message (each url once, first
        title kept); anything else in the list is not a source and is passed over."""
        if not isinstance(annotations, list):
            return
        for note in annotations:
            if not isinstance(note, dict) or note.get("type") != "url_citation":
                continue
            cited = note.get("url_citation")
            url = _str(cited.get("url")) if isinstance(cited, dict) else None
            if url is None or url in self.sources:
                continue
            self.sources[url] = Source(url, _str(cited.get("title")) if cited else None)

    def _skip(self, kind: str, data: str) -> KeepAlive:
        """Pass over a data line that is not a chunk, saying so; give up on a stream that is
        mostly such lines."""
        self.skipped += 1
        quote = shorten(self.clean(data), QUOTE_WIDTH)
        if self.skipped > MAX_SKIPPED:
            raise self.stream_error(
                f"gave up on a stream of {kind} lines ({self.skipped} skipped, the last {quote!r})"
            )
        self.warnings.append(f"skipped a {kind} stream line: {quote!r}")
        return KeepAlive()

    @property
    def model_finished(self) -> bool:
        """The model said why it stopped (and it was not an error): the text is whole even if
        the rest of the stream (usage, ``[DONE]``) never arrives."""
        return self.finish_reason not in (None, "error") and self.error is None

    def finish(self) -> Completion:
        prompt_tokens, completion_tokens, cost = self._usage()
        if self.error is not None:
            err = self.error
            err.partial_text = "".join(self.parts)
            err.cost, err.prompt_tokens, err.completion_tokens = (
                cost,
                prompt_tokens,
                completion_tokens,
            )
            err.warnings = tuple(self.warnings)
            err.accepted, err.model = self.accepted, self.model
            err.reasoning_tokens = self._reasoning_tokens()
            raise err
        if self.finish_reason == "error":
            raise self.stream_error("the model reported an error without details")
        if self.finish_reason is None:
            # [DONE] alone does not make an answer whole: only the model says it finished.
            raise self.stream_error(
                "the stream ended without a finish reason: the answer may be incomplete"
                if self.done
                else "the stream ended before the model finished"
            )
        cached_tokens, cache_write_tokens = self._cache()
        return Completion(
            text="".join(self.parts),
            model=self.model,
            provider=self.provider,
            finish_reason=self.finish_reason,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost=cost,
            generation_id=self.generation_id,
            warnings=tuple(self.warnings),
            cached_tokens=cached_tokens,
            cache_write_tokens=cache_write_tokens,
            reasoning_tokens=self._reasoning_tokens(),
            web_searches=self._web_searches(),
            sources=tuple(self.sources.values()),
        )

    def _web_searches(self) -> int | None:
        """``usage.server_tool_use_details.web_search_requests`` (as streams report it), or
        ``usage.server_tool_use.web_search_requests`` (as the docs show it): whole and
        non-negative, else unknown (None)."""
        usage = self.usage or {}
        for key in ("server_tool_use_details", "server_tool_use"):
            details = usage.get(key)
            if isinstance(details, dict):
                return _count(details.get("web_search_requests"))
        return None

    def _usage(self) -> tuple[int | None, int | None, Decimal | None]:
        usage = self.usage or {}
        cost = usage.get("cost")  # JSON numbers were parsed as Decimal, so it stays exact
        if (whole := _int(cost)) is not None:
            cost = Decimal(whole)
        if not isinstance(cost, Decimal) or not cost.is_finite() or not 0 <= cost < MAX_CALL_COST:
            cost = None  # not a cost any call could have: better unknown than absurd
        return _int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens")), cost

    def _cache(self) -> tuple[int | None, int | None]:
        """``(cached_tokens, cache_write_tokens)`` from ``usage.prompt_tokens_details``: whole
        non-negative numbers only, anything else unknown (None), so a malformed report never
        shows as a cache hit or a miss."""
        usage = self.usage or {}
        details = usage.get("prompt_tokens_details")
        if not isinstance(details, dict):
            return None, None
        return _count(details.get("cached_tokens")), _count(details.get("cache_write_tokens"))

    def _reasoning_tokens(self) -> int | None:
        """``usage.completion_tokens_details.reasoning_tokens``: a whole non-negative number,
        else unknown (None)."""
        details = (self.usage or {}).get("completion_tokens_details")
        return _count(details.get("reasoning_tokens")) if isinstance(details, dict) else None

    def stream_error(self, message: str) -> StreamError:
        return self.failure(StreamError, message)

    def failure(self, kind: type[F], message: str) -> F:
        """A ``kind`` error carrying everything this stream delivered before it failed: the
        text, what the server billed (usage can arrive before the failure) and the warnings."""
        prompt_tokens, completion_tokens, cost = self._usage()
        err = kind(
            message,
            provider=self.provider,
            partial_text="".join(self.parts),
            cost=cost,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
        )
        err.warnings = tuple(self.warnings)
        err.accepted, err.model = self.accepted, self.model
        err.reasoning_tokens = self._reasoning_tokens()
        return err


def _whole_characters(held: str, text: str) -> tuple[str, str]:
    """``(text, held)``: pair surrogate halves split across chunks (``"\\ud83d"`` then
    ``"\\ude00"``) and replace lone ones, so the text is always valid Unicode (it goes to
    SQLite and stdout); a high half at the end is held, as its pair may come next."""
    text = held + text
    held = ""
    if text and "\ud800" <= text[-1] <= "\udbff":
        text, held = text[:-1], text[-1]
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace"), held


def _reasoning(delta: dict[str, Any]) -> str:
    """A delta's reasoning text: ``reasoning`` when it is text; else the text of its
    ``reasoning_details`` (``reasoning.text`` entries' ``text``, ``reasoning.summary`` entries'
    ``summary``; encrypted entries and signatures carry nothing to show). OpenRouter sends the
    same text in both fields, so reading both would show it twice."""
    reasoning = delta.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        return reasoning
    details = delta.get("reasoning_details")
    if not isinstance(details, list):
        return ""
    keys = {"reasoning.text": "text", "reasoning.summary": "summary"}
    texts = []
    for detail in details:
        if isinstance(detail, dict) and (key := keys.get(str(detail.get("type")))) is not None:
            value = detail.get(key)
            if isinstance(value, str):
                texts.append(value)
    return "".join(texts)


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _count(value: object) -> int | None:
    """A token count: a non-negative integer, or None."""
    number = _int(value)
    return number if number is not None and number >= 0 else None

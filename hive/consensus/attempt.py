"""One attempt of a model call: its stream read, its text told as it comes, its end recorded.

An attempt ends recorded whichever way it ends: answered; stopped on purpose by its ``stop``
(recorded as cut, its text kept, ``StoppedEarly`` raised); failed (with what the server billed
and any partial text); or cancelled, with the run or as a straggler the pipeline cut (with what
streamed, which may be billed). The retries and fallbacks around attempts are ``caller.py``'s.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass, field

from hive.consensus.call_log import CallLog
from hive.consensus.events import (
    CANCELLED,
    CUT,
    CallRecord,
    CallRouted,
    ThinkingDelta,
    TokenDelta,
)
from hive.consensus.spend_guard import CallKey
from hive.errors import ApiFailure, StreamError
from hive.openrouter.chat import ChatRequest, Completion, KeepAlive, ReasoningDelta, TextDelta
from hive.openrouter.client import OpenRouterClient

Clock = Callable[[], float]
Stop = Callable[[str], str | None]  # the text so far -> why to stop now, or None
EMPTY_ANSWER = "the model returned an empty answer"


class StoppedEarly(Exception):
    """A call its ``stop`` ended on purpose: ``text`` is what it wrote until then."""

    def __init__(self, text: str, reason: str) -> None:
        super().__init__(reason)
        self.text = text
        self.reason = reason


@dataclass
class _Progress:
    """What an attempt's stream has shown so far."""

    started: float
    routed: str  # who the server says answers: a change is told once (CallRouted)
    first_token: float | None = None
    received: list[str] = field(default_factory=list)  # the answer so far, kept if stopped
    answered: bool = False  # the server's reply had begun: an attempt stopped now may be billed
    stopped: str | None = None  # why ``stop`` ended the attempt early

    @property
    def text(self) -> str:
        return "".join(self.received)

    def ttft_ms(self) -> float | None:
        return None if self.first_token is None else (self.first_token - self.started) * 1000


class Attempts:
    """Runs the attempts of a run's calls, one ``run`` each; ``cuts`` says why a call the
    pipeline cancels on purpose (a straggler) was stopped, for its record."""

    def __init__(self, client: OpenRouterClient, log: CallLog, clock: Clock) -> None:
        self._client = client
        self._log = log
        self._clock = clock
        self.cuts: dict[CallKey, str] = {}

    async def run(
        self, stage: str, index: int, request: ChatRequest, attempt_no: int, stop: Stop | None
    ) -> str:
        """The answer of attempt ``attempt_no`` of call ``(stage, index)``, recorded; an
        ApiFailure (recorded too) if it gives none."""
        model = request.model
        seen = _Progress(started=self._clock(), routed=model)
        record = functools.partial(CallRecord, stage=stage, index=index, model=model,
                                   attempt=attempt_no)  # fmt: skip
        try:
            completion = await self._read(stage, index, request, seen, stop)
            if seen.stopped is not None:  # ``stop`` ended it: the connection is closed
                self._log.record(
                    record(
                        model_used=None, provider=None, prompt_tokens=None,
                        completion_tokens=None, cost=None, ttft_ms=seen.ttft_ms(),
                        latency_ms=self._since(seen), finish_reason=None, content=seen.text,
                        error=f"{CUT}{seen.stopped}", accepted=True,
                    )
                )  # fmt: skip
                raise StoppedEarly(seen.text, seen.stopped)
            assert completion is not None  # stream_chat always ends with one
            if not completion.text.strip():
                raise _no_answer(completion, request.max_tokens)
        except ApiFailure as exc:
            # A failed attempt still cost what the server reported; keep that and any partial text.
            self._log.record(
                record(
                    model_used=exc.model, provider=exc.provider,
                    prompt_tokens=exc.prompt_tokens, completion_tokens=exc.completion_tokens,
                    cost=exc.cost, ttft_ms=seen.ttft_ms(), latency_ms=self._since(seen),
                    finish_reason=None, content=exc.partial_text, error=str(exc),
                    accepted=exc.accepted, reasoning_tokens=exc.reasoning_tokens,
                )
            )  # fmt: skip
            for warning in exc.warnings:  # e.g. a skipped stream line, quoted: the run keeps it
                self._log.warn(f"{stage} ({model}): {warning}")
            raise
        except asyncio.CancelledError:
            # The run was stopped (Ctrl-C, SIGTERM) or the call cut mid-call: text that
            # streamed may be billed, so the attempt is recorded with it (and priced as hive
            # can) before cancelling on.
            self._log.record(
                record(
                    model_used=None, provider=None, prompt_tokens=None, completion_tokens=None,
                    cost=None, ttft_ms=seen.ttft_ms(), latency_ms=self._since(seen),
                    finish_reason=None, content=seen.text, accepted=seen.answered,
                    error=self.cuts.get((stage, index), CANCELLED),
                )
            )  # fmt: skip
            raise
        self._log.record(
            record(
                model_used=completion.model, provider=completion.provider,
                prompt_tokens=completion.prompt_tokens,
                completion_tokens=completion.completion_tokens, cost=completion.cost,
                ttft_ms=seen.ttft_ms(), latency_ms=self._since(seen),
                finish_reason=completion.finish_reason, content=completion.text, accepted=True,
                cached_tokens=completion.cached_tokens,
                cache_write_tokens=completion.cache_write_tokens,
                cache_discount=completion.cache_discount,
                reasoning_tokens=completion.reasoning_tokens,
                generation_id=completion.generation_id, web_searches=completion.web_searches,
                sources=tuple((s.url, s.title) for s in completion.sources),
            )
        )  # fmt: skip
        for warning in _warnings(stage, model, completion):
            self._log.warn(warning)
        return completion.text

    async def _read(
        self, stage: str, index: int, request: ChatRequest, seen: _Progress, stop: Stop | None
    ) -> Completion | None:
        """The stream's Completion, its text and reasoning told as they come; None when
        ``stop`` ended the attempt (``seen.stopped`` says why), its connection closed so that
        the model stops writing."""
        completion: Completion | None = None
        stream = self._client.stream_chat(request)
        async for item in stream:
            seen.answered = True  # anything, a keep-alive too, comes after the server's 200
            if isinstance(item, KeepAlive):
                continue
            if isinstance(item, TextDelta):
                if item.model != seen.routed and item.model is not None:
                    seen.routed = item.model
                    self._log.emit(CallRouted(stage, index, seen.routed))
                if seen.first_token is None:
                    seen.first_token = self._clock()
                seen.received.append(item.text)
                self._log.emit(TokenDelta(stage, index, item.text))
                if stop is not None and ">" in item.text:
                    seen.stopped = stop(seen.text)
                    if seen.stopped is not None:
                        await stream.aclose()
                        return None
            elif isinstance(item, ReasoningDelta):
                # Shown as thinking; never part of ``received``, the answer so far.
                self._log.emit(ThinkingDelta(stage, index, item.text))
            elif isinstance(item, Completion):
                completion = item
        return completion

    def cut_while_waiting(self, stage: str, index: int, model: str, attempt_no: int) -> None:
        """A call cut between attempts (waiting to retry) is recorded as cut: nothing was
        sent for the attempt it was waiting for, so nothing is billed for it."""
        reason = self.cuts.get((stage, index))
        if reason is None:
            return  # the run was stopped: the attempts already recorded say what was spent
        self._log.record(
            CallRecord(
                stage=stage, index=index, model=model, model_used=None, provider=None,
                prompt_tokens=None, completion_tokens=None, cost=None, ttft_ms=None,
                latency_ms=0.0, finish_reason=None, content="", error=reason,
                attempt=attempt_no,
            )
        )  # fmt: skip

    def _since(self, seen: _Progress) -> float:
        return (self._clock() - seen.started) * 1000


def _no_answer(completion: Completion, max_tokens: int | None) -> StreamError:
    """The error of an answered (and billed) call with no answer text. A model that thought
    until ``max_tokens`` ran out is told apart, with what to change, and not retried: a retry
    would end the same way."""
    thought = completion.reasoning_tokens
    reason = EMPTY_ANSWER
    if completion.finish_reason == "length" and thought:
        limit = f" of its {max_tokens} max_tokens" if max_tokens else ""
        reason = (
            f"{EMPTY_ANSWER}: it spent {thought}{limit} reasoning and ran out before answering "
            "(raise the stage's max_tokens or lower its reasoning)"
        )
    empty = StreamError(
        reason, provider=completion.provider, cost=completion.cost,
        prompt_tokens=completion.prompt_tokens, completion_tokens=completion.completion_tokens,
    )  # fmt: skip
    empty.warnings = completion.warnings
    empty.accepted, empty.model = True, completion.model  # answered, and billed
    empty.reasoning_tokens = completion.reasoning_tokens  # it may have only thought
    if reason != EMPTY_ANSWER:
        empty.retryable = False
    return empty


def _warnings(stage: str, model: str, completion: Completion) -> list[str]:
    """What the run should know about an answer that came: stream problems, a cut-short one."""
    out = [f"{stage} ({model}): {warning}" for warning in completion.warnings]
    if completion.finish_reason == "length":
        out.append(f"{stage} ({model}) hit its max_tokens limit; its output may be cut short")
    elif completion.finish_reason == "content_filter":
        out.append(f"{stage} ({model}) output was cut by a content filter")
    return out

"""Client-side rate limiting: how many model calls may be in flight, and how many may start in
any minute, so hive waits its turn instead of collecting 429s.

Two kinds of limit, each 0 for none:

- concurrency: at most ``max_concurrent`` calls open at once (a call holds its slot until its
  stream ends);
- sliding windows: at most ``per_minute`` calls started in any ``window`` seconds, and at most
  ``free_per_minute`` of them to free model variants (ids ending ``:free``, which OpenRouter
  limits to 20 requests a minute). A free call counts against both windows, a paid one only
  against the first.

A full window means waiting until its oldest call is ``window`` seconds old, never failing.
Waiting for a window never holds a concurrency slot, so a free call queued behind the free
limit does not keep a paid one from starting. The clock and the sleep come in as parameters,
so tests run the waits on a fake clock.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from hive.env import (
    DEFAULT_FREE_REQUESTS_PER_MINUTE,
    DEFAULT_MAX_CONCURRENT_REQUESTS,
    DEFAULT_REQUESTS_PER_MINUTE,
)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
FREE_SUFFIX = ":free"


def is_free(model: str) -> bool:
    return model.endswith(FREE_SUFFIX)


class SlidingWindow:
    """At most ``limit`` grants in any ``span`` seconds."""

    def __init__(self, limit: int, span: float) -> None:
        self.limit = limit
        self.span = span
        self._grants: deque[float] = deque()

    def wait(self, now: float) -> float:
        """Seconds until a grant would fit (0.0: it fits now)."""
        while self._grants and self._grants[0] + self.span <= now:
            self._grants.popleft()
        if len(self._grants) < self.limit:
            return 0.0
        return self._grants[0] + self.span - now

    def grant(self, now: float) -> None:
        self._grants.append(now)


class RateLimiter:
    def __init__(
        self,
        *,
        max_concurrent: int = DEFAULT_MAX_CONCURRENT_REQUESTS,
        per_minute: int = DEFAULT_REQUESTS_PER_MINUTE,
        free_per_minute: int = DEFAULT_FREE_REQUESTS_PER_MINUTE,
        window: float = 60.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if min(max_concurrent, per_minute, free_per_minute) < 0:
            raise ValueError("a rate limit is 0 (no limit) or more")
        self.max_concurrent = max_concurrent
        self.per_minute = per_minute
        self.free_per_minute = free_per_minute
        self._slots = asyncio.Semaphore(max_concurrent) if max_concurrent else None
        self._all = SlidingWindow(per_minute, window) if per_minute else None
        self._free = SlidingWindow(free_per_minute, window) if free_per_minute else None
        self._clock = clock
        self._sleep = sleep

    @asynccontextmanager
    async def slot(self, model: str) -> AsyncIterator[None]:
        """Hold a place for one call to ``model`` for the duration of the block."""
        await self.acquire(model)
        try:
            yield
        finally:
            self.release()

    async def acquire(self, model: str) -> None:
        windows = [w for w in (self._all, self._free if is_free(model) else None) if w]
        while True:
            delay = self._delay(windows)
            if delay > 0:
                await self._sleep(delay)
                continue
            if self._slots is not None:
                await self._slots.acquire()
            # A slot may have taken a while: the windows may have filled up meanwhile.
            delay = self._delay(windows)
            if delay <= 0:
                now = self._clock()
                for window in windows:
                    window.grant(now)
                return
            if self._slots is not None:
                self._slots.release()
            await self._sleep(delay)

    def release(self) -> None:
        if self._slots is not None:
            self._slots.release()

    def _delay(self, windows: list[SlidingWindow]) -> float:
        now = self._clock()
        return max((w.wait(now) for w in windows), default=0.0)

"""One ``hive consensus`` run, wired: catalog prices, budgets, history, client, pipeline, view.

Order matters for money: the estimate is checked against the budgets before anything is
spent; the run is written to history before the first call, each call as it finishes, and the
run's end (answer, failure, budget stop or Ctrl-C) last, so nothing paid for is lost.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from hive.consensus.budget import Budgets
from hive.consensus.estimate import RunEstimate, estimate_run
from hive.errors import (
    BudgetError,
    DegradedError,
    HiveError,
    ModelNotFound,
    RequestTimeout,
    StageError,
)
from hive.store.history import History
from hive.store.spending import local_midnight

if TYPE_CHECKING:
    import httpx

    from hive.consensus.events import PipelineEvent
    from hive.consensus.profiles import Profile
    from hive.openrouter.catalog import Catalog
    from hive.openrouter.client import OpenRouterClient
    from hive.store.paths import Paths
    from hive.store.settings import Settings
    from hive.ui.renderer import Renderer


@dataclass(frozen=True, slots=True)
class RunRequest:
    question: str
    profile: Profile
    settings: Settings
    paths: Paths
    key: str | None  # None: simulation
    pace: float  # simulated seconds per call
    force: bool  # run even if the estimate breaks a budget
    estimate_only: bool  # --estimate: print the estimate, spend nothing
    strict: bool  # --strict: a degraded answer exits 5
    as_json: bool
    notices: list[str]  # lines for stderr before the run (unless quiet)
    quiet: bool

    @property
    def simulated(self) -> bool:
        return self.key is None


CATALOG_FETCH_TIMEOUT_S = 10.0  # a slow /models must not hold up a run: the cache will do


def budgets(settings: Settings, history: History) -> Budgets:
    today = date.today()
    return Budgets.from_settings(
        settings,
        spent_today=history.spent_since(local_midnight(today)),
        spent_this_month=history.spent_since(local_midnight(today.replace(day=1))),
    )


def estimate(request: RunRequest, catalog: Catalog, history: History) -> RunEstimate:
    def typical(model: str, stage: str) -> int | None:
        return history.typical_completion(model, stage, simulated=request.simulated)

    return estimate_run(request.question, request.profile, date.today(), catalog.price, typical)


def run(request: RunRequest, renderer: Renderer) -> None:
    """Everything on one event loop and one pooled HTTP client, catalog fetch included."""
    history = History.open(request.paths)
    session = _Session(request, renderer, history)
    try:
        asyncio.run(session.main())
    except BudgetError as exc:
        if session.run_id is None:
            raise  # refused before the run: nothing was spent or recorded
        history.finish_run(session.run_id, "budget", error=str(exc))
        raise BudgetError(
            f"{exc}; the partial run is kept: hive history show {session.run_id}"
        ) from exc
    except DegradedError:
        raise  # the run itself finished and was recorded as such
    except HiveError as exc:
        if isinstance(exc, StageError) and isinstance(exc.cause, ModelNotFound) and session.catalog:
            closest = session.catalog.closest(exc.model)
            if closest:
                exc.args = (f"{exc}; closest model ids: {', '.join(closest)}",)
        if session.run_id is not None:
            history.finish_run(session.run_id, "failed", error=str(exc))
        raise
    except (KeyboardInterrupt, asyncio.CancelledError):
        if session.run_id is not None:
            history.finish_run(session.run_id, "interrupted", error="interrupted")
        raise
    finally:
        history.close()


class _Session:
    def __init__(self, request: RunRequest, renderer: Renderer, history: History) -> None:
        self.request = request
        self.renderer = renderer
        self.history = history
        self.run_id: int | None = None
        self.catalog: Catalog | None = None

    async def main(self) -> None:
        request = self.request
        async with _http(request) as http:
            client = _client(request, http)
            catalog = self.catalog = await self._catalog(client)
            if not request.quiet:
                for notice in [*request.notices, *catalog.unlisted(request.profile.all_models())]:
                    sys.stderr.write(f"hive: {notice}\n")
            limits = budgets(request.settings, self.history)
            expected = estimate(request, catalog, self.history)
            if request.estimate_only:
                print_estimate(expected, limits, as_json=request.as_json)
                return
            if not request.simulated and not request.force:
                limits.check(expected)
            await self._consensus(client, catalog, limits)

    async def _catalog(self, client: OpenRouterClient) -> Catalog:
        from hive.openrouter.catalog_cache import load_catalog

        async def fetch() -> dict[str, Any]:
            try:
                return await asyncio.wait_for(client.list_models(), CATALOG_FETCH_TIMEOUT_S)
            except TimeoutError as exc:
                raise RequestTimeout("the model list took too long") from exc

        # Simulation never touches the network; a real run refreshes a stale catalog.
        return await load_catalog(self.request.paths, None if self.request.simulated else fetch)

    async def _consensus(self, client: OpenRouterClient, catalog: Catalog, limits: Budgets) -> None:
        from hive.consensus.pipeline import Pipeline
        from hive.openrouter.retry import RetryPolicy
        from hive.store.recorder import Recorder

        request, history = self.request, self.history
        self.run_id = history.start_run(request.question, request.profile.name, request.simulated)
        recorder = Recorder(history, self.run_id)

        def emit(event: PipelineEvent) -> None:
            recorder.handle(event)  # history first: what was paid for is kept if a view fails
            self.renderer.handle(event)

        settings = request.settings
        policy = RetryPolicy(
            max_attempts=settings.retry_attempts,
            base_delay=settings.retry_base_delay,
            max_total_wait=settings.retry_max_wait,
        )
        pipeline = Pipeline(
            client, emit, today=date.today(), price_of=catalog.price,
            limit=None if request.simulated or request.force else limits.limit(), policy=policy,
        )  # fmt: skip
        with self.renderer:
            result = await pipeline.run(request.question, request.profile,
                                        simulated=request.simulated)  # fmt: skip
            status = "degraded" if result.degraded else "ok"
            history.finish_run(
                self.run_id, status, answer=result.answer, confidence=result.confidence,
                duration_ms=result.duration_ms, warnings=result.warnings,
            )  # fmt: skip
            notes = [] if request.simulated else limits.notes(result.total_cost)
            self.renderer.finish(result, run_id=self.run_id, notes=notes)
        if result.degraded and request.strict:
            raise DegradedError(f"--strict: the answer is degraded: {'; '.join(result.warnings)}")


def _http(request: RunRequest) -> httpx.AsyncClient:
    from hive.cli.http import http_client
    from hive.openrouter.simulator import SimulatorTransport

    simulator = SimulatorTransport(pace=request.pace) if request.simulated else None
    return http_client(request.settings, request.key, simulator)


def _client(request: RunRequest, http: httpx.AsyncClient) -> OpenRouterClient:
    """The client with the run's first-token timeout and rate limits. A simulated run keeps
    the concurrency limit, so it unfolds as a real one would, but not OpenRouter's per-minute
    quotas: nothing it sends reaches OpenRouter."""
    from hive.openrouter.client import OpenRouterClient
    from hive.openrouter.ratelimit import RateLimiter

    settings = request.settings
    limiter = RateLimiter(
        max_concurrent=settings.max_concurrent_requests,
        per_minute=0 if request.simulated else settings.requests_per_minute,
        free_per_minute=0 if request.simulated else settings.free_requests_per_minute,
    )
    return OpenRouterClient(http, first_token_timeout=settings.first_token_timeout, limiter=limiter)


def print_estimate(estimate_: RunEstimate, limits: Budgets, *, as_json: bool) -> None:
    """``--estimate``: per call and in total, expected and worst case; nothing is spent."""
    import json

    from hive.money import dollars

    def money(value: Decimal | None) -> str | None:
        return None if value is None else format(value, "f")

    if as_json:
        data = {
            "expected_cost": money(estimate_.expected),
            "max_cost": money(estimate_.ceiling),
            "unpriced_models": estimate_.unpriced,
            "calls": [
                {
                    "stage": c.stage,
                    "model": c.model,
                    "prompt_tokens": c.prompt_tokens,
                    "completion_tokens": c.completion_tokens,
                    "max_completion_tokens": c.max_completion_tokens,
                    "expected_cost": money(c.expected),
                    "max_cost": money(c.ceiling),
                }
                for c in estimate_.calls
            ],
            "left_today": money(limits.left_today()),
            "left_this_month": money(limits.left_this_month()),
        }
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    rows = [("stage", "model", "prompt", "output", "expected", "at most")]
    rows += [
        (c.stage, c.model, f"~{c.prompt_tokens:,}",
         f"~{c.completion_tokens:,}/{c.max_completion_tokens:,}",
         dollars(c.expected), dollars(c.ceiling))
        for c in estimate_.calls
    ]  # fmt: skip
    rows.append(("total", "", "", "", dollars(estimate_.expected), dollars(estimate_.ceiling)))
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    for row in rows:
        cells = [cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in
                 enumerate(zip(row, widths, strict=True))]  # fmt: skip
        sys.stdout.write("  ".join(cells).rstrip() + "\n")
    for note in limits.notes(Decimal(0)):
        sys.stdout.write(f"budget: {note}\n")
    if estimate_.unpriced:
        sys.stdout.write(f"not priced in advance: {', '.join(estimate_.unpriced)}\n")

"""One ``hive consensus`` run, wired: catalog prices, budgets, history, client, pipeline, view.

Order matters for money: the estimate is checked against the budgets before anything is
spent; the run's record (``store/run_record.py``) writes the run before the first call, each
call as it finishes, and the run's end (answer, failure, budget stop, Ctrl-C, SIGTERM, SIGHUP)
last, so nothing paid for is lost. The day comes in with the request, never from the clock here.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import signal
import sys
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from hive.consensus.budget import Budgets
from hive.consensus.context import NO_CONTEXT, Attachment, Context
from hive.consensus.estimate import RunEstimate, estimate_run
from hive.errors import (
    BudgetError,
    DegradedError,
    HiveError,
    Interrupted,
    ModelNotFound,
    RequestTimeout,
    StageError,
    StorageError,
)
from hive.money import total_text
from hive.store.history import History
from hive.store.run_record import RunRecord
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
    rounds: int | None = None  # --rounds: the most refine -> validate rounds
    adaptive: bool = True  # False (--fixed): the full panel, every stage
    context: Context = NO_CONTEXT  # instructions, files and earlier turns sent first
    new_files: tuple[Attachment, ...] = ()  # this run's own files (the context's last ones)
    parent_id: int | None = None  # the run this one follows up
    logged: bool = True  # False (--no-log): no question, file or answer text in history
    today: date = field(default_factory=date.today)  # local date: prompts and budget days

    @property
    def simulated(self) -> bool:
        return self.key is None


CATALOG_FETCH_TIMEOUT_S = 10.0  # a slow /models must not hold up a run: the cache will do


def budgets(settings: Settings, history: History, today: date) -> Budgets:
    return Budgets.from_settings(
        settings,
        spent_today=history.spent_since(local_midnight(today)),
        spent_this_month=history.spent_since(local_midnight(today.replace(day=1))),
    )


def estimate(request: RunRequest, catalog: Catalog, history: History) -> RunEstimate:
    """What the run would cost for real, from real history only, in simulation mode too."""
    return estimate_run(
        request.question, request.profile, request.today, catalog.price,
        history.typical_completion, rounds=request.rounds, adaptive=request.adaptive,
        context=request.context,
    )  # fmt: skip


def run(request: RunRequest, renderer: Renderer) -> None:
    """Everything on one event loop and one pooled HTTP client, catalog fetch included.

    The history database is opened first: one it cannot use (a newer hive's, a locked or
    unwritable one) is refused before any request is sent. SIGTERM and SIGHUP end the run as
    Ctrl-C does: requests cancelled, the run closed as ``interrupted``, what was spent kept.
    """
    history = History.open(request.paths)
    record = RunRecord(history, notice=_notice, logged=request.logged)
    session = _Session(request, renderer, history, record)
    try:
        with record:
            try:
                asyncio.run(session.main())
            except (KeyboardInterrupt, asyncio.CancelledError) as exc:
                signum = session.signal or signal.SIGINT
                message = _interrupted(signum, record, simulated=request.simulated)
                raise Interrupted(message, signum) from exc
    except HiveError as exc:
        exc.run_id, exc.spent = record.run_id, record.spent if record.run_id else None
        if isinstance(exc, BudgetError) and record.run_id is not None:
            exc.args = (f"{exc}; the partial run is kept: hive history show {record.run_id}",)
        if isinstance(exc, StageError) and isinstance(exc.cause, ModelNotFound) and session.catalog:
            closest = session.catalog.closest(exc.model)
            if closest:
                exc.args = (f"{exc}; closest model ids: {', '.join(closest)}",)
        raise
    finally:
        history.close()


def _notice(message: str) -> None:
    sys.stderr.write(f"hive: warning: {message}\n")
    sys.stderr.flush()


def _interrupted(signum: int, record: RunRecord, *, simulated: bool = False) -> str:
    name = signal.Signals(signum).name
    if record.run_id is None:
        return f"interrupted ({name}); nothing was spent"
    where = f" during {record.stage}" if record.stage else ""
    calls = len(record.calls)
    return (
        f"interrupted ({name}){where}: spent {total_text(record.spent)}"
        f"{' (simulated)' if simulated else ''} on {calls} "
        f"call{'s' if calls != 1 else ''}; run #{record.run_id} is kept: "
        f"hive history show {record.run_id}"
    )


class _Session:
    def __init__(
        self, request: RunRequest, renderer: Renderer, history: History, record: RunRecord
    ) -> None:
        self.request = request
        self.renderer = renderer
        self.history = history
        self.record = record
        self.catalog: Catalog | None = None
        self.signal: int | None = None  # SIGTERM or SIGHUP, once one has asked us to stop

    def _stop_on(self, task: asyncio.Task[None]) -> None:
        """SIGTERM and SIGHUP cancel the run's task, as asyncio does for Ctrl-C. A signal
        someone chose to ignore (``nohup`` ignores SIGHUP) stays ignored: only the default
        action, which would kill hive mid-write, is replaced."""

        def stop(signum: int) -> None:
            self.signal = signum
            task.cancel()

        loop = asyncio.get_running_loop()
        for name in ("SIGTERM", "SIGHUP"):  # SIGHUP does not exist on Windows
            signum = getattr(signal, name, None)
            if signum is None or signal.getsignal(signum) is not signal.SIG_DFL:
                continue
            with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
                loop.add_signal_handler(signum, stop, signum)  # main thread, Unix only

    async def main(self) -> None:
        request = self.request
        task = asyncio.current_task()
        if task is not None:
            self._stop_on(task)
        async with _http(request) as http:
            client = _client(request, http)
            catalog = self.catalog = await self._catalog(client)
            if not request.quiet:
                for notice in [*request.notices, *catalog.unlisted(request.profile.all_models())]:
                    sys.stderr.write(f"hive: {notice}\n")
            limits = budgets(request.settings, self.history, request.today)
            expected = estimate(request, catalog, self.history)
            from hive.cli.run_inputs import context_limits
            from hive.consensus.profiles import STAGES

            backups = {stage: request.profile.stage(stage).fallbacks for stage in STAGES}
            for warning in context_limits(expected, catalog, backups):
                if not request.quiet:
                    _notice(warning)
            if request.estimate_only:
                from hive.ui.estimate_view import print_estimate

                print_estimate(expected, limits, as_json=request.as_json,
                               simulated=request.simulated)  # fmt: skip
                return
            if not request.simulated and not request.force:
                limits.check(expected, unpriced_why=_unpriced_why(catalog))
            await self._consensus(client, catalog, limits)

    async def _catalog(self, client: OpenRouterClient) -> Catalog:
        from hive.cli.models import catalog_cache
        from hive.openrouter.catalog_cache import load_catalog

        async def fetch() -> dict[str, Any]:
            try:
                return await asyncio.wait_for(client.list_models(), CATALOG_FETCH_TIMEOUT_S)
            except TimeoutError as exc:
                raise RequestTimeout("the model list took too long") from exc

        # Simulation never touches the network; a real run refreshes a stale catalog.
        return await load_catalog(
            catalog_cache(self.request.paths),
            None if self.request.simulated else fetch,
            base_url=self.request.settings.base_url,
        )

    async def _consensus(self, client: OpenRouterClient, catalog: Catalog, limits: Budgets) -> None:
        from hive.consensus.caller import Caller
        from hive.consensus.pipeline import Pipeline
        from hive.openrouter.retry import RetryPolicy

        request, record = self.request, self.record
        record.start(
            request.question, request.profile.name, request.simulated,
            parent_id=request.parent_id, system=request.context.system,
            panel=_panel(request),
            files=[(f.name, f.text) for f in request.new_files],
        )  # fmt: skip

        def emit(event: PipelineEvent) -> None:
            record.handle(event)  # history first: what was paid for is kept if a view fails
            self.renderer.handle(event)

        settings = request.settings
        policy = RetryPolicy(
            max_attempts=settings.retry_attempts,
            base_delay=settings.retry_base_delay,
            max_total_wait=settings.retry_max_wait,
        )
        caller = Caller(
            client, emit, price_of=catalog.price,
            limit=None if request.simulated or request.force else limits.limit(), policy=policy,
        )  # fmt: skip
        pipeline = Pipeline(
            caller, today=request.today,
            seed=_simulation_seed(request) if request.simulated else None,
            adaptive_rules=request.adaptive,
        )  # fmt: skip
        with self.renderer:
            result = await pipeline.run(request.question, request.profile,
                                        simulated=request.simulated, rounds=request.rounds,
                                        context=request.context)  # fmt: skip
            try:
                record.finish(
                    "degraded" if result.degraded else "ok", answer=result.answer,
                    confidence=result.confidence, duration_ms=result.duration_ms,
                    warnings=result.warnings,
                    consensus=result.consensus.as_dict() if result.consensus else None,
                    issues=result.issues, rounds=result.rounds,
                )  # fmt: skip
            except StorageError as exc:  # the answer was paid for: show it all the same
                # (the record tries once more as the run ends, and says then what was lost)
                warning = f"history could not record the run's end ({exc}); trying once more"
                result = dataclasses.replace(result, warnings=[*result.warnings, warning])
            notes = [] if request.simulated else limits.notes(result.cost)
            self.renderer.finish(result, run_id=record.run_id, notes=notes)
        if result.degraded and request.strict:
            raise DegradedError(f"--strict: the answer is degraded: {'; '.join(result.warnings)}")


def _panel(request: RunRequest) -> dict[str, Any]:
    """The profile that ran, with the instructions it was really sent (a run's --system
    beats the profile's); without them under --no-log, which keeps no instruction text."""
    panel = request.profile.model_dump(mode="json", by_alias=True, exclude_none=True)
    panel["system"] = request.context.system if request.logged else ""
    return panel


def _simulation_seed(request: RunRequest) -> int:
    """A simulated run is deterministic for the same question and profile, the shuffled
    order of its drafts included; a real run draws its seed at random."""
    digest = hashlib.sha256(f"{request.profile.name}\n{request.question}".encode()).digest()
    return int.from_bytes(digest[:4], "big") >> 1


def _unpriced_why(catalog: Catalog) -> str:
    """Why a model has no price in advance, for the budget's refusal."""
    if catalog.problem is not None:
        return f"no price known: the model list could not be fetched ({catalog.problem})"
    return "no price known in advance"


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

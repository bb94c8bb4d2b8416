"""The live view drawn from a real run's events, at every step, at four terminal sizes.

A ``balanced`` run goes over real sockets to the loopback server with faults scripted in: a
generator rate-limited once (a retry), one answered by another model on OpenRouter's side (a
server fallback), one whose model is gone (hive falls back itself), and a validator that keeps
failing (a degraded run). Its events are replayed into the view's board, and after each one the
frame is drawn at 40x15, 80x24, 120x40 and 200x50 and read as text: it must fit, show every
call's state, never a negative time, the model that really answered, the notes, and lanes with
the newest text. The result is then printed: no border on the answer's lines, code intact.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import random
import re
import time
from dataclasses import dataclass
from datetime import date

import pytest
from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

from hive.consensus.caller import Caller
from hive.consensus.events import (
    CallFailed,
    CallFinished,
    CallPlan,
    CallRecord,
    CallRetrying,
    CallRouted,
    CallStarted,
    ConsensusResult,
    PipelineEvent,
    RunStarted,
    TokenDelta,
)
from hive.consensus.pipeline import Pipeline
from hive.consensus.profiles import BUILTIN_PROFILES
from hive.openrouter.client import OpenRouterClient, make_http_client
from hive.openrouter.retry import RetryPolicy
from hive.ui import live_layout as layout
from hive.ui.answer_view import blocks, print_answer
from hive.ui.live import LiveRenderer
from hive.ui.live_screen import ENTER, HOME, LEAVE, SYNC_BEGIN, SYNC_END
from hive.ui.run_board import Board, CallView
from tests.conftest import FAKE_KEY, stream
from tests.loopback import Fault, LoopbackOpenRouter

SIZES = [(40, 15), (80, 24), (120, 40), (200, 50)]
BALANCED = BUILTIN_PROFILES["balanced"]
RETRIED, ROUTED, GONE = BALANCED.generate.models
HIVE_FALLBACK = BALANCED.generate.fallbacks[0]
OTHER = "google/gemma-3-27b-it:free"  # what OpenRouter answered RETRIED's neighbour with
VALIDATORS = (*BALANCED.validate_.models, *BALANCED.validate_.fallbacks)
POLICY = RetryPolicy(max_attempts=2, base_delay=1.0, max_delay=30.0, max_total_wait=60.0)
STEP = 0.05  # seconds between replayed events
ICON_CHARS = set("·↻✓✗–✂" + layout.SPINNER)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@dataclass(frozen=True)
class Run:
    events: list[PipelineEvent]
    result: ConsensusResult


@pytest.fixture(scope="module")
def faulty_run() -> Run:
    """One real run with a retry, a server fallback, a hive fallback and a failed stage."""
    with LoopbackOpenRouter(api_key=FAKE_KEY) as server:
        server.fail(RETRIED, Fault(status=429, headers={"Retry-After": "1.5"}))
        server.fail(ROUTED, Fault(events=stream(OTHER, "Drafted by another model. " * 40)))
        server.fail(GONE, Fault(status=404))
        for model in VALIDATORS:
            server.fail(model, *[Fault(status=500)] * 4)
        events: list[PipelineEvent] = []

        async def sleep(seconds: float) -> None:
            pass

        async def go() -> ConsensusResult:
            async with make_http_client(api_key=FAKE_KEY, base_url=server.base_url) as http:
                caller = Caller(OpenRouterClient(http), events.append, policy=POLICY,
                                sleep=sleep, rng=random.Random(0))  # fmt: skip
                pipeline = Pipeline(caller, today=date(2026, 11, 28), adaptive_rules=False)
                return await pipeline.run("Why is the sky blue?", BALANCED, simulated=False)

        result = asyncio.run(go())
    return Run(events, result)


def plain(lines: list[object]) -> list[str]:
    return [str(getattr(line, "plain", line)) for line in lines]


def replay(run: Run, upto: int | None = None) -> Board:
    board = Board()
    for n, event in enumerate(run.events[:upto]):
        board.handle(event, n * STEP)
    return board


def test_the_run_had_every_fault_it_was_scripted_with(faulty_run: Run) -> None:
    kinds = {type(e).__name__ for e in faulty_run.events}
    assert {"CallRetrying", "CallRouted", "CallFailed"} <= kinds
    assert any(isinstance(e, CallStarted) and e.requested == GONE for e in faulty_run.events)
    assert faulty_run.result.degraded and faulty_run.result.answer.strip()


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_every_frame_fits_and_shows_every_state(faulty_run: Run, width: int, height: int) -> None:
    board = Board()
    for n, event in enumerate(faulty_run.events):
        now = n * STEP
        board.handle(event, now)
        if isinstance(event, TokenDelta) and n % 7:
            continue  # every state change, and every 7th token
        lines = plain(layout.frame(board, width, height, now))
        assert len(lines) <= height - 1
        assert all(len(line) <= width for line in lines), lines
        assert not any(re.search(r"-\d+(\.\d+)?s\b", line) for line in lines), lines
        rows = [line for line in lines[2:] if line[:1] in ICON_CHARS and line[1:2] == " "]
        shown = {line.split()[1] for line in rows}
        assert shown, lines  # the calls' rows, each beginning with its state
        assert not any(line.startswith("  ") and "model" not in line for line in lines[1:2])


def frame_at(run: Run, when: type, width: int, height: int, *, offset: int = 1) -> list[str]:
    """The frame drawn just after the first event of type ``when`` (and ``offset - 1`` more)."""
    first = next(n for n, e in enumerate(run.events) if isinstance(e, when))
    upto = first + offset
    board = replay(run, upto)
    return plain(layout.frame(board, width, height, upto * STEP))


def test_a_retry_shows_its_countdown_and_attempt_not_a_failure(faulty_run: Run) -> None:
    lines = frame_at(faulty_run, CallRetrying, 120, 40)
    [row] = [line for line in lines if RETRIED in line and " generate " in line]
    assert row.startswith("↻ ") and re.search(r"retry 2 in 1\.[45]s", row), row
    assert any(line.startswith("! ") and "retrying" in line for line in lines)  # a note
    later = frame_at(faulty_run, CallRetrying, 120, 40, offset=2)  # the second attempt began
    [row] = [line for line in later if RETRIED in line and " generate " in line]
    assert "try 2" in row and "↻" not in row and "✗" not in row


def test_the_model_that_really_answered_is_named(faulty_run: Run) -> None:
    routed = frame_at(faulty_run, CallRouted, 120, 40)
    assert any(f"{ROUTED} → {OTHER}" in line for line in routed), routed
    board = replay(faulty_run)
    lines = plain(layout.table_lines(board, layout.columns(120, layout.longest(board)), 99.0))
    assert any(f"{GONE} → {HIVE_FALLBACK}" in line for line in lines), lines  # hive's own
    assert any(f"{ROUTED} → {OTHER}" in line and line.startswith("✓") for line in lines)


def streaming_board(run: Run) -> tuple[Board, float, str]:
    """The board when all three generators have begun to stream (at the next token), the
    time, and the newest word streamed."""
    board = Board()
    for n, event in enumerate(run.events):
        board.handle(event, n * STEP)
        live = [c for c in board.calls.values() if c.stage == "generate" and c.chars]
        if isinstance(event, TokenDelta) and len(live) == 3 and event.text.split():
            return board, n * STEP, event.text.split()[-1]
    raise AssertionError("the three generators never streamed together")


def test_concurrent_streams_get_a_lane_each_stacked_or_side_by_side(faulty_run: Run) -> None:
    board, now, _ = streaming_board(faulty_run)
    names = [c.answering or c.model for c in board.lanes()]
    assert len(names) == 3
    stacked = plain(layout.frame(board, 100, 40, now))
    titles = [line for line in stacked if "───" in line]
    assert len(titles) == 3 and all(any(n in t for t in titles) for n in names), stacked
    for width in (120, 200):
        wide = plain(layout.frame(board, width, 50, now))
        [beside] = [line for line in wide if "───" in line]  # one title row, three lanes
        assert all(name[:12] in beside for name in names), beside


def test_a_short_terminal_keeps_the_newest_text_visible(faulty_run: Run) -> None:
    board, now, newest = streaming_board(faulty_run)
    for width, height in [(40, 15), (80, 12), (60, 9), (120, 8)]:
        lines = plain(layout.frame(board, width, height, now))
        assert len(lines) <= height - 1
        assert any(newest in line for line in lines), (width, height, lines)
        states = [line for line in lines if " generate " in line or line.startswith("· ")]
        assert states, lines  # the calls' states are still there


def test_a_lane_keeps_its_place_until_the_next_stage(faulty_run: Run) -> None:
    board = Board()
    seen: list[list[str]] = []
    for n, event in enumerate(faulty_run.events):
        board.handle(event, n * STEP)
        if board.stage == "generate":
            seen.append([f"{c.stage}{c.index}" for c in board.lanes()])
    # Lanes are only ever added while generate runs: none leaves, none moves.
    for before, after in itertools.pairwise(seen):
        assert after[: len(before)] == before


def test_the_record_after_the_run(faulty_run: Run) -> None:
    console = Console(file=io.StringIO(), width=100, force_terminal=False, markup=False)
    renderer = LiveRenderer(console)
    with renderer:
        for event in faulty_run.events:
            renderer.handle(event)
        renderer.finish(faulty_run.result, run_id=7)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "\x1b" not in text  # not a terminal: no escapes, no frames
    lines = text.splitlines()
    assert sum(line.split()[:2] == ["stage", "model"] for line in lines) == 1
    summary = next(n for n, line in enumerate(lines) if "calls ·" in line)
    assert "degraded (see notes below)" in lines[summary] and "run #7" in lines[summary]
    below = lines[summary + 1 :]
    assert any(line.startswith("! ") and "validat" in line for line in below)  # repeated
    answer = faulty_run.result.answer.strip().splitlines()[0][:30]
    [at] = [line for line in lines if answer in line]
    assert not set(at) & set("│╭╰╮╯")


def test_an_interrupted_run_shows_what_was_cancelled(faulty_run: Run) -> None:
    board, _, _ = streaming_board(faulty_run)
    console = Console(file=io.StringIO(), width=120, force_terminal=False)
    renderer = LiveRenderer(console, clock=lambda: 5.0)
    renderer.board = board
    renderer.__enter__()
    renderer.__exit__(KeyboardInterrupt, KeyboardInterrupt(), None)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    rows = [line for line in text.splitlines() if line[:1] in ICON_CHARS]
    assert any(line.startswith("– generate") for line in rows), text
    assert not any(line[:1] in layout.SPINNER for line in rows)  # nothing left "running"


def test_on_a_terminal_frames_are_drawn_on_the_alternate_screen(faulty_run: Run) -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, width=80, height=24, force_terminal=True, markup=False)
    renderer = LiveRenderer(console)
    with renderer:
        for event in faulty_run.events:
            renderer.handle(event)
        renderer.finish(faulty_run.result, run_id=3)
    out = buffer.getvalue()
    assert out.startswith(ENTER) and out.count(ENTER) == out.count(LEAVE) == 1
    live, record = out.split(LEAVE)
    assert renderer.screen.frames >= 1 and live.count(SYNC_BEGIN) == live.count(SYNC_END)
    # Every frame fits: 23 lines at most, none wider than 80 columns.
    for frame in live.split(SYNC_BEGIN)[1:]:
        rows = ANSI.sub("", frame.split(SYNC_END)[0]).split("\n")
        assert len([r for r in rows if r]) <= 23 and all(len(r) <= 80 for r in rows)
    assert ANSI.sub("", record).count("model") >= 1 and "run #3" in ANSI.sub("", record)


def test_the_pages_cited_are_listed_under_the_answer_with_model_text_made_safe(
    faulty_run: Run,
) -> None:
    """Sources come from the calls that searched; their titles are model-side text, so an
    escape sequence in one is shown harmless, never sent to the terminal."""
    import dataclasses

    calls = list(faulty_run.result.calls)
    first = next(i for i, c in enumerate(calls) if c.ok and c.stage == "generate")
    calls[first] = dataclasses.replace(
        calls[first], sources=(("https://a.example/x", "A \x1b]52;c;aGk=\x07title"),
                               ("https://b.example/", None)),
    )  # fmt: skip
    result = dataclasses.replace(faulty_run.result, calls=calls)
    buffer = io.StringIO()
    console = Console(file=buffer, width=100, force_terminal=False)
    renderer = LiveRenderer(console, out=Console(file=io.StringIO(), width=100))
    with renderer:
        renderer.finish(result, run_id=4)
    text = buffer.getvalue()
    assert "sources (2 web pages cited):" in text
    assert "  1. A ]52;c;aGk=title — https://a.example/x" in text  # the escape's ESC and BEL gone
    assert "\x1b]52" not in text and "\x07" not in text
    assert "  2. https://b.example/" in text
    assert text.index("sources (2") < text.index("run #4")


CODE_ANSWER = (
    """Reverse it in place:

```python
items = [1, 2, 3]
items.reverse()
print(items)  # a long comment that goes on and on well past any readable width of prose text
```

Or make a reversed copy with `items[::-1]`. """
    + "This sentence is long prose. " * 12
)


def test_the_answer_prints_code_that_copies_and_prose_that_reads() -> None:
    console = Console(file=io.StringIO(), width=200, force_terminal=True, markup=False)
    print_answer(console, CODE_ANSWER)
    lines = ANSI.sub("", console.file.getvalue()).splitlines()  # type: ignore[attr-defined]
    code = ["items = [1, 2, 3]", "items.reverse()"]
    assert all(line in lines for line in code)  # exactly the code: no padding, no border
    long_line = next(line for line in lines if line.startswith("print(items)"))
    assert long_line.endswith("prose text")  # never wrapped nor cropped
    assert "```python" in lines and not any(set(line) & set("│╭╰") for line in lines)
    prose = [line for line in lines if "long prose" in line]
    assert len(prose) > 1 and all(len(line.rstrip()) <= 100 for line in prose)


def test_a_piped_answer_is_the_text_as_written() -> None:
    console = Console(file=io.StringIO(), width=80, force_terminal=False)
    print_answer(console, CODE_ANSWER)
    assert console.file.getvalue() == CODE_ANSWER.rstrip("\n") + "\n"  # type: ignore[attr-defined]


def test_answer_blocks_cut_out_code_even_inside_a_list() -> None:
    parts = blocks(
        "intro\n\n1. install:\n\n   ```\n   pip install x\n   ```\n\n```sh\nls -l\n```\nend"
    )
    assert [(b.code, b.text) for b in parts if b.code] == [(True, "pip install x"), (True, "ls -l")]
    assert parts[0].text.startswith("intro") and parts[-1].text == "end"


def test_code_keeps_its_tabs_and_loses_its_escapes() -> None:
    answer = "Run:\r\n\r\n```make\r\nall:\r\n\techo hi\x1b]52;c;Zm9v\x07\r\n```\r\n"
    console = Console(file=io.StringIO(), width=80, force_terminal=True, markup=False)
    print_answer(console, answer)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert "all:\n\techo hi" in out  # the tab, as written
    assert "\x1b]" not in out and "\x07" not in out  # shown, never obeyed (no OSC 52)


def test_a_call_asked_but_silent_is_told_apart_from_one_streaming(faulty_run: Run) -> None:
    first = next(n for n, e in enumerate(faulty_run.events) if isinstance(e, CallStarted))
    board = replay(faulty_run, first + 1)
    lines = plain(layout.frame(board, 120, 40, (first + 1) * STEP))
    [row] = [line for line in lines if " generate " in line and "no text yet" in line]
    assert row[:1] in layout.SPINNER


def test_a_view_that_cannot_draw_leaves_the_run_alone(
    faulty_run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> list[object]:
        raise ValueError("a bug in drawing")

    monkeypatch.setattr(layout, "frame", broken)
    console = Console(file=io.StringIO(), width=80, height=24, force_terminal=True)
    renderer = LiveRenderer(console)
    with renderer:
        for event in faulty_run.events:
            renderer.handle(event)
        renderer.finish(faulty_run.result, run_id=1)
    raw = console.file.getvalue()  # type: ignore[attr-defined]
    assert raw.count(ENTER) == raw.count(LEAVE) == 1  # the terminal is given back all the same
    text = ANSI.sub("", raw)
    assert "! the live view stopped drawing (ValueError: a bug in drawing)" in text
    assert "run #1" in text


# --- from watching it as a new user ------------------------------------------------------------


def _record(stage: str, index: int, model: str, **fields: object) -> CallRecord:
    base: dict[str, object] = dict(
        stage=stage, index=index, model=model, model_used=model, provider=None,
        prompt_tokens=10, completion_tokens=5, cost=None, ttft_ms=1.0, latency_ms=2.0,
        finish_reason="stop", content="text", accepted=True,
    )  # fmt: skip
    base.update(fields)
    return CallRecord(**base)  # type: ignore[arg-type]


def _two_rounds() -> Board:
    board = Board()
    plan = [CallPlan("generate", 0, "g/a"), CallPlan("refine", 0, "r/r"),
            CallPlan("validate", 0, "v/v"), CallPlan("curate", 0, "c/c")]  # fmt: skip
    events: list[PipelineEvent] = [RunStarted("q", "quality", False, plan)]
    for stage, index, model in [("generate", 0, "g/a"), ("refine", 0, "r/r"),
                                ("validate", 0, "v/v"), ("refine", 1, "r/r")]:  # fmt: skip
        events += [CallStarted(stage, index, model), TokenDelta(stage, index, "some text")]
        if (stage, index) != ("refine", 1):
            events.append(CallFinished(_record(stage, index, model)))
    for n, event in enumerate(events):
        board.handle(event, float(n))
    return board


def test_a_second_round_is_labelled_and_in_the_order_it_ran() -> None:
    board = _two_rounds()
    lines = plain(layout.table_lines(board, layout.columns(100), 20.0))
    stages = [line[2:12].strip() for line in lines[1:]]
    assert stages == ["generate", "refine", "validate", "refine 2", "curate"]
    assert [c.index for c in board.lanes()] == [1]  # only the round running now has a lane
    narrow = plain(layout.table_lines(board, layout.columns(40), 20.0))
    assert any(line[2:7] == "ref 2" for line in narrow), narrow


def test_skipped_calls_are_not_counted_as_not_begun() -> None:
    board = _two_rounds()
    board.calls[("curate", 0)].state = "skipped"
    board.calls[("generate", 1)] = CallView("generate", 1, "g/b")
    folded = plain(layout.table_lines(board, layout.columns(80), 20.0, folded=True))
    assert folded[-1] == "· 1 not begun: generate · 1 skipped: curate"


def test_a_narrow_header_keeps_the_time_and_the_spend() -> None:
    board = _two_rounds()
    header = layout.header(board, 40, 20.0).plain
    assert header.startswith("stage 2/4 refine · 20.0s · $") and len(header) <= 40


def test_the_time_runs_on_while_a_call_waits_to_retry() -> None:
    board = Board()
    board.handle(CallStarted("generate", 0, "g/a"), 0.0)
    board.handle(CallFailed(_record("generate", 0, "g/a", error="HTTP 429")), 1.0)
    board.handle(CallRetrying("generate", 0, "g/a", 2, 3, 5.0, "HTTP 429"), 1.0)
    assert board.calls[("generate", 0)].elapsed(4.0) == 4.0


def test_a_lane_shows_the_ledger_as_one_line_not_json() -> None:
    assert layout.readable('<ledger>{"claims": [') == "[writing the claim ledger…]"
    text = layout.readable('<ledger>{"claims": []}</ledger>\n\nThe answer')
    assert text == "[the claim ledger]\n\nThe answer"
    assert layout.readable("[]}</ledger>\nrest") == "[the claim ledger]\nrest"


def test_wide_characters_wrap_by_columns_and_the_newest_stays() -> None:
    text = "".join(f"第{n}句话是这样的。" for n in range(200))
    lines = layout.tail_lines(text, 40, 6)
    assert all(cell_len(line) <= 40 for line in lines)
    assert "".join(lines).endswith("第199句话是这样的。")
    assert "".join(lines).endswith(text[-len("".join(lines)) :])  # nothing skipped between


def test_a_short_terminal_never_cuts_the_running_call() -> None:
    board = Board()
    plan = [CallPlan("generate", i, f"g/m{i}") for i in range(5)]
    events: list[PipelineEvent] = [RunStarted("q", "big", False, plan)]
    for i in range(5):
        events += [CallStarted("generate", i, f"g/m{i}"),
                   CallFinished(_record("generate", i, f"g/m{i}"))]  # fmt: skip
    for r in range(3):
        for stage in ("refine", "validate"):
            events += [CallStarted(stage, r, f"{stage[0]}/x"),
                       CallFinished(_record(stage, r, f"{stage[0]}/x"))]  # fmt: skip
    events += [CallStarted("refine", 3, "r/x"), TokenDelta("refine", 3, "the newest words")]
    for n, event in enumerate(events):
        board.handle(event, float(n))
    for height in range(4, 20):
        lines = plain(layout.frame(board, 80, height, 40.0))
        assert len(lines) <= height - 1
        assert any("newest words" in line for line in lines), (height, lines)


def test_stderr_written_while_the_view_holds_its_lock_does_not_freeze_the_run() -> None:
    import sys
    import threading

    console = Console(file=io.StringIO(), width=80, height=24, force_terminal=True)
    renderer = LiveRenderer(console)

    def clock() -> float:
        sys.stderr.write("Exception ignored in: something\n")  # as the GC may, under the lock
        return 1.0

    with renderer:
        renderer._clock = clock
        console.stderr = True
        done = threading.Event()

        def feed() -> None:
            renderer.handle(CallStarted("generate", 0, "g/a"))
            renderer.handle(TokenDelta("generate", 0, "text"))
            done.set()

        threading.Thread(target=feed, daemon=True).start()
        assert done.wait(5), "handle() blocked"
    assert renderer.screen.active is False


def test_a_drawing_failure_gives_the_normal_screen_back_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time

    monkeypatch.setattr(layout, "frame", lambda *a: (_ for _ in ()).throw(ValueError("bug")))
    console = Console(file=io.StringIO(), width=80, height=24, force_terminal=True)
    renderer = LiveRenderer(console)
    with renderer:
        deadline = time.monotonic() + 5
        while renderer.screen.active and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not renderer.screen.active  # left while the run goes on
    assert console.file.getvalue().count(LEAVE) == 1  # type: ignore[attr-defined]


def test_terminal_safe_keeps_text_tabs_and_newlines_only() -> None:
    from hive.text import terminal_safe

    assert terminal_safe("a\x1b[31mb\tc\r\nd\x9b\x07é 中") == "a[31mb\tc\ndé 中"


def test_ctrl_z_while_the_run_holds_the_view_lock_does_not_deadlock() -> None:
    """The Ctrl-Z handler runs on the main thread, which may be inside ``handle()`` holding the
    view's lock, while the drawing thread waits for that lock to read the state. The handler
    must not wait for the drawing thread then (CI once hung here for good)."""
    import threading

    from hive.ui.live_screen import Screen

    state_lock = threading.Lock()
    drawing = threading.Event()

    def draw(width: int, height: int) -> list[Text]:
        drawing.set()
        with state_lock:  # as the live view's draw does
            return [Text("frame")]

    console = Console(file=io.StringIO(), width=80, height=24, force_terminal=True)
    screen = Screen(console, draw)
    stopped = threading.Event()
    resumed = threading.Event()

    def main_thread_in_handle() -> None:
        with state_lock:  # handle() is applying an event when Ctrl-Z arrives
            screen.start()
            assert drawing.wait(5)
            screen.pause(stopped.set)
            resumed.set()

    worker = threading.Thread(target=main_thread_in_handle, daemon=True)
    worker.start()
    assert resumed.wait(5), "the Ctrl-Z handler deadlocked with the drawing thread"
    worker.join(5)
    drawn = screen.frames
    deadline = time.monotonic() + 5
    while screen.frames <= drawn + 1 and time.monotonic() < deadline:
        time.sleep(0.01)  # a frame drawn after resuming, whole
    screen.stop()
    written = console.file.getvalue()  # type: ignore[attr-defined]
    assert stopped.is_set()
    left = written.index(LEAVE)
    back = written.index(ENTER, left)
    assert HOME not in written[left:back]  # nothing drawn while stopped (each frame homes)
    assert HOME in written[back:]  # drawn again after resuming


def test_ctrl_z_after_a_drawing_failure_leaves_the_shell_its_screen() -> None:
    """A view that gave the screen back because drawing failed is not brought back by a
    Ctrl-Z and fg: the run's record and the shell stay on the normal screen."""
    from hive.ui.live_screen import Screen

    def draw(width: int, height: int) -> list[Text]:
        raise ValueError("bug")

    console = Console(file=io.StringIO(), width=80, height=24, force_terminal=True)
    screen = Screen(console, draw)
    screen.start()
    deadline = time.monotonic() + 5
    while screen.active and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not screen.active
    stopped = []
    screen.pause(lambda: stopped.append(True))
    screen.stop()
    written = console.file.getvalue()  # type: ignore[attr-defined]
    assert stopped == [True]
    assert written.rfind(ENTER) < written.rfind(LEAVE)  # the normal screen, to the end


@pytest.mark.skipif(not hasattr(__import__("signal"), "SIGTSTP"), reason="POSIX signals")
def test_the_view_handles_ctrl_z_but_takes_no_lock_on_a_resize() -> None:
    """A SIGWINCH handler that woke the drawing thread would take an Event's lock, which the
    main thread may hold at that moment (inside ``redraw``): the next tick draws the new size
    instead. Ctrl-Z has a handler while the view is up, and the old one is back after."""
    import signal

    from hive.ui.live_screen import Screen

    winch, tstp = signal.getsignal(signal.SIGWINCH), signal.getsignal(signal.SIGTSTP)
    console = Console(file=io.StringIO(), width=80, height=24, force_terminal=True)
    screen = Screen(console, lambda width, height: [Text("frame")])
    screen.start()
    try:
        assert signal.getsignal(signal.SIGWINCH) is winch
        assert signal.getsignal(signal.SIGTSTP) == screen._suspend
    finally:
        screen.stop()
    assert signal.getsignal(signal.SIGTSTP) is tstp

"""A board drawn as lines that fit a terminal of any size: header, calls, lanes, notes.

Every line is cut to the width (never wrapped), and the frame never takes more than the
height less one line, so what is drawn is exactly what fits. Room is given up in this order:
columns (the stage abbreviated, then tokens, then cost; never the state), then the lanes'
depth, then waiting calls folded into one row, then each lane down to its newest line, then
the finished calls of earlier stages: the running calls and their newest text go last. The lanes of
a stage keep their place while it runs: a finished call's lane stays with its last text
until the next stage begins, so nothing jumps. A call that is thinking (reasoning text, no
answer yet) shows its newest reasoning, dim, under a title that says ``thinking``; its answer
replaces it as soon as it begins.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

from rich.cells import cell_len, chop_cells
from rich.text import Text

from hive.money import total_text
from hive.text import terminal_safe
from hive.ui import format as fmt
from hive.ui.run_board import Board, CallView

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
ICONS = {
    "waiting": ("·", "dim"),
    "retrying": ("↻", "yellow"),
    "done": ("✓", "green"),
    "failed": ("✗", "red"),
    "cancelled": ("–", "yellow"),
    "skipped": ("–", "dim"),
    "cut": ("✂", "yellow"),
}
SHORT_STAGE = {"generate": "gen", "refine": "ref", "validate": "val", "curate": "cur"}
_LEDGER_DONE = re.compile(r"<ledger>.*?</ledger>", re.S)
MAX_NOTES = 3  # note lines shown while the run goes on; all of them are printed after it
MAX_LANE_LINES = 12
THINKING = "thinking"  # what a lane's title and a call's row say while it only reasons
THINKING_STYLE = "dim italic"
SIDE_BY_SIDE_MIN = 38  # columns a lane needs to stand beside another
_TIME, _TOKENS, _COST = 6, 7, 10


@dataclass(frozen=True, slots=True)
class Columns:
    """Which columns fit, and the model column's width."""

    stage: int  # 8 (the full name) or 5 (abbreviated)
    model: int
    tokens: bool
    cost: bool


def columns(width: int, longest: int = 0) -> Columns:
    """The widest set of columns that leaves the model name at least 20 characters (or what
    there is, at the narrowest): the stage is abbreviated first, then tokens go, then cost.
    The model column is no wider than ``longest`` (its longest name, with room for a try
    count), so the numbers stay near the names on a wide terminal."""
    options = ((10, True, True), (5, True, True), (5, False, True), (5, False, False))
    for stage, tokens, cost in options:
        fixed = 2 + stage + 1 + 1 + _TIME
        fixed += (1 + _TOKENS if tokens else 0) + (1 + _COST if cost else 0)
        if width - fixed >= 20:
            model = width - fixed if longest <= 0 else min(width - fixed, max(20, longest))
            return Columns(stage, model, tokens, cost)
    return Columns(5, max(6, width - (2 + 5 + 1 + 1 + _TIME)), False, False)


def longest(board: Board) -> int:
    """The model column's natural width: the longest name a row shows, and a try count."""
    names = [len(model_cell(call, 0.0)) for call in board.calls.values()]
    return max(names, default=0) + len(" · try 2")


def frame(board: Board, width: int, height: int, now: float) -> list[Text]:
    """The board as at most ``height - 1`` lines, none wider than ``width``."""
    width, room = max(20, width), max(1, height - 1)
    cols = columns(width, longest(board))
    top = [header(board, width, now)]
    lanes = board.lanes()
    # Ever tighter: waiting calls folded into one row, then one note line, then lanes of
    # one line each; the calls' states and the newest text stay to the last.
    for folded, notes_shown in ((False, MAX_NOTES), (True, MAX_NOTES), (True, 1)):
        table = table_lines(board, cols, now, folded=folded)
        notes = note_lines(board.notes, width, notes_shown)
        free = room - len(top) - len(table) - len(notes)
        if not lanes:
            return [_fit(line, width) for line in (top + table + notes)[:room]]
        block = lane_lines(lanes, width, free, now)
        if block is not None:
            return [_fit(line, width) for line in top + table + block + notes]
    # Lanes of one line each, under the folded table; if even that does not fit, the lanes'
    # own rows go (each lane's line shows its call's state and model) with the column names,
    # then the finished calls of earlier stages fold into one row, then the oldest rows go:
    # the lanes — what is running now, and its newest text — are never what is cut.
    notes = note_lines(board.notes, width, 1)
    table = table_lines(board, cols, now, folded=True)
    if len(top) + len(table) + len(notes) + len(lanes) > room:
        shown = {(c.stage, c.index) for c in lanes}
        table = table_lines(board, cols, now, folded=True, skip=shown)[1:]
        if len(top) + len(table) + len(notes) + len(lanes) > room:
            table = table_lines(board, cols, now, folded=True, skip=shown, finished=True)[1:]
    if len(top) + len(table) + len(notes) + min(len(lanes), 1) > room:
        notes = []
    free = max(1, room - len(top) - len(table) - len(notes))
    block = compact_lanes(lanes, width, free, now)
    keep = max(0, room - len(top) - len(block) - len(notes))
    table = table[len(table) - keep :] if keep else []
    return [_fit(line, width) for line in (top + table + block + notes)[:room]]


def header(board: Board, width: int, now: float) -> Text:
    """``balanced · stage 2/4 refine · 12.3s · $0.0123 · escalated``."""
    if board.ended is not None:
        where = "stopped"
    elif board.stage is None:
        where = "starting"
    else:
        where = f"stage {board.stage_number()}/4 {board.stage}"
    # What changes first, so a narrow terminal cuts the profile's name, not the time or spend.
    text = Text(where, style="bold")
    text.append(f" · {fmt.seconds(board.elapsed(now) * 1000)}")
    text.append(f" · {total_text(board.spent, compact=True)}")
    for label in dict.fromkeys(board.labels):  # each kind once, in order
        text.append(" · ")
        text.append(label, style="cyan")
    text.append(f" · {board.profile}" + (" (simulated)" if board.simulated else ""), style="dim")
    return _fit(text, width)


def table_lines(
    board: Board,
    cols: Columns,
    now: float,
    *,
    folded: bool = False,
    skip: set[tuple[str, int]] | None = None,
    finished: bool = False,
) -> list[Text]:
    """The column header and a row per call (but those in ``skip``); ``folded``: calls not
    begun (waiting, skipped) become one row naming their stages; ``finished``: so do the
    ended calls of stages before the running one."""
    head = Text(" " * 2)
    head.append("stage".ljust(cols.stage) + " " + "model".ljust(cols.model) + " ")
    head.append("time".rjust(_TIME))
    if cols.tokens:
        head.append(" " + "tokens".rjust(_TOKENS))
    if cols.cost:
        head.append(" " + "cost".rjust(_COST))
    head.stylize("bold")
    lines = [head]
    idle: list[CallView] = []
    ended: list[CallView] = []
    for call in board.rows():
        if skip and (call.stage, call.index) in skip:
            continue
        if finished and call.record is not None and call.stage != board.stage:
            ended.append(call)
            continue
        if folded and call.state in ("waiting", "skipped"):
            idle.append(call)
            continue
        lines.append(row(call, cols, now))
    if ended:
        ok = sum(c.state == "done" for c in ended)
        lines.insert(1, Text(f"✓ {ok} of {len(ended)} earlier calls done", style="dim"))
    parts = []
    for state, what in (("waiting", "not begun"), ("skipped", "skipped")):
        calls = [c for c in idle if c.state == state]
        if calls:
            parts.append(f"{len(calls)} {what}: {', '.join(dict.fromkeys(c.stage for c in calls))}")
    if parts:
        lines.append(Text("· " + " · ".join(parts), style="dim"))
    return lines


def row(call: CallView, cols: Columns, now: float) -> Text:
    """One call: its state (always), stage, model (``a → b`` when another answered), time,
    tokens and cost as the columns allow."""
    icon, style = ICONS.get(call.state, (SPINNER[int(now * 10) % len(SPINNER)], "cyan"))
    dim = "dim" if call.state in ("waiting", "skipped") else ""
    text = Text(icon, style=style)
    text.append(" ")
    stage = stage_label(call, cols.stage)
    text.append(stage[: cols.stage].ljust(cols.stage) + " ", style=dim)
    text.append(
        _fit_middle(model_cell(call, now), cols.model).ljust(cols.model),
        style=dim or _model_style(call),
    )
    elapsed = call.elapsed(now)
    text.append(" " + ("" if elapsed is None else fmt.seconds(elapsed * 1000)).rjust(_TIME))
    if cols.tokens:
        count, estimated = call.tokens()
        shown = "?" if count is None else f"{'~' if estimated else ''}{count:,}"
        if call.started is None or call.state == "retrying":
            shown = ""  # not begun, or between attempts: the next attempt counts anew
        text.append(" " + shown.rjust(_TOKENS))
    if cols.cost:
        cost = "" if call.record is None else fmt.call_cost(call.record)
        text.append(" " + cost.rjust(_COST))
    return text


def stage_label(call: CallView, width: int) -> str:
    """``refine``; a later stage's second call (another round, or the escalated panel's
    refine) ``refine 2``; abbreviated (``ref 2``) when the column is narrow."""
    number = f" {call.index + 1}" if call.stage != "generate" and call.index else ""
    full = call.stage + number
    return full if len(full) <= width else SHORT_STAGE.get(call.stage, call.stage) + number


def model_cell(call: CallView, now: float) -> str:
    """``model``, ``asked → answering``, and the attempt: ``· try 2``, or while waiting to
    retry ``· retry 2 in 1.2s``."""
    name = terminal_safe(call.model)
    if call.requested and call.requested != call.model:
        name = f"{call.requested} → {call.model}"
    elif call.answering and call.answering != call.model:
        name = f"{name} → {terminal_safe(call.answering)}"
    if call.state == "retrying" and call.retry_at is not None:
        return f"{name} · retry {call.attempt} in {max(0.0, call.retry_at - now):.1f}s"
    if call.attempt > 1:
        name = f"{name} · try {call.attempt}"
    if call.state == "streaming" and not call.chars:
        # asked, and not yet answering: not the same as streaming (nor is thinking)
        name += f" · {THINKING}" if call.thinking else " · no text yet"
    return name


def lane_lines(lanes: list[CallView], width: int, free: int, now: float) -> list[Text] | None:
    """Each lane as a title and its newest lines, side by side when the terminal is wide
    enough, else stacked; None when not even one line of text per lane fits in ``free``."""
    n = len(lanes)
    gap = 2
    beside = n > 1 and (width - gap * (n - 1)) // n >= SIDE_BY_SIDE_MIN
    depth = free - 1 if beside else (free - n) // n
    depth = min(MAX_LANE_LINES, depth)
    if depth < 1:
        return None
    if not beside:
        out: list[Text] = []
        for lane in lanes:
            text, style = lane_text(lane)
            out.append(lane_title(lane, width, now))
            out += [Text(line, style=style) for line in tail_lines(text, width, depth)]
        return out
    lane_width = (width - gap * (n - 1)) // n
    titles = [lane_title(lane, lane_width, now) for lane in lanes]
    texts = [lane_text(lane) for lane in lanes]
    bodies = [(tail_lines(text, lane_width, depth), style) for text, style in texts]
    out = [_beside(titles, lane_width, gap)]
    for i in range(depth):
        out.append(_beside([Text(body[i], style=style) for body, style in bodies], lane_width, gap))
    return out


def lane_text(lane: CallView) -> tuple[str, str]:
    """What a lane shows, and its style: the answer as it streams, or while there is none
    yet, the model's reasoning, dim (the title then says ``thinking``)."""
    if lane.thinking:
        return terminal_safe(lane.thinking_tail), THINKING_STYLE
    return readable(lane.tail), ""


def compact_lanes(lanes: list[CallView], width: int, free: int, now: float) -> list[Text]:
    """A short terminal: one line per lane, its title and then its newest text, for as many
    lanes as fit (the ones still streaming first)."""
    ordered = [c for c in lanes if c.live] + [c for c in lanes if not c.live]
    out = []
    for lane in ordered[:free]:
        title = lane_title(lane, max(10, width // 3), now, rule=False)
        text, style = lane_text(lane)
        newest = " ".join(text.split())
        # A one-line title has no room for the label: the text says it is thinking.
        label = f"{THINKING}: " if lane.thinking else ""
        room = width - title.cell_len - 2 - len(label)
        if room > 0 and newest:
            title.append(": ")
            title.append(label + _last_cells(newest, room), style=style)
        out.append(_fit(title, width))
    return out


def lane_title(lane: CallView, width: int, now: float, *, rule: bool = True) -> Text:
    icon, style = ICONS.get(lane.state, (SPINNER[int(now * 10) % len(SPINNER)], "cyan"))
    text = Text(icon, style=style)
    text.append(" " + stage_label(lane, 0) + " ", style="bold")
    name = terminal_safe(lane.answering or lane.model)
    label = f" · {THINKING}" if lane.thinking and rule else ""
    room = max(6, width - 8 - len(label))
    text.append(_fit_middle(name, room), style="cyan" if lane.live else "dim")
    if label:
        text.append(label, style=THINKING_STYLE)
    if rule and len(text.plain) + 2 < width:
        text.append(" " + "─" * (width - len(text.plain) - 1), style="dim")
    return _fit(text, width)


def readable(text: str) -> str:
    """A lane's text as it may be shown: no control characters (``terminal_safe``), and a
    refiner's claim ledger — JSON for hive to read, not prose to watch — as one line saying
    so (the agreement section shows what it held)."""
    text = terminal_safe(text)
    if "ledger>" not in text:
        return text
    text = _LEDGER_DONE.sub("[the claim ledger]", text)
    if (cut := text.rfind("</ledger>")) >= 0:  # its opening is older than the tail kept
        text = "[the claim ledger]" + text[cut + len("</ledger>") :]
    if (start := text.rfind("<ledger>")) >= 0:
        text = text[:start] + "[writing the claim ledger…]"
    return text


def tail_lines(text: str, width: int, depth: int) -> list[str]:
    """The last ``depth`` lines of ``text`` as they wrap at ``width``, padded with empty
    lines at the top while there are fewer, so a lane's height never changes."""
    out: list[str] = []
    for source in reversed(text.expandtabs(4).split("\n")):
        wrapped = [
            piece
            for line in textwrap.wrap(source, width, drop_whitespace=True) or [""]
            for piece in (chop_cells(line, width) if cell_len(line) > width else [line])
        ]  # wide characters (CJK, emoji) take two columns: wrapped by columns, not characters
        out[:0] = wrapped
        if len(out) >= depth:
            break
    out = out[-depth:]
    return [""] * (depth - len(out)) + out


def note_lines(notes: list[str], width: int, limit: int) -> list[Text]:
    """The newest ``limit`` notes, one line each; the first says how many came before."""
    if not notes:
        return []
    shown = notes[-limit:]
    earlier = len(notes) - len(shown)
    out = []
    for n, note in enumerate(shown):
        prefix = f"! (+{earlier} earlier) " if n == 0 and earlier else "! "
        line = prefix + " ".join(terminal_safe(note).split())
        out.append(_fit(Text(line, style="yellow"), width))
    return out


def _beside(cells: list[Text], width: int, gap: int) -> Text:
    line = Text()
    for n, cell in enumerate(cells):
        if n:
            line.append(" " * gap)
        piece = _fit(cell, width)
        piece.pad_right(width - piece.cell_len)
        line.append_text(piece)
    line.rstrip()
    return line


def _model_style(call: CallView) -> str:
    return {"failed": "red", "cut": "yellow", "cancelled": "yellow"}.get(call.state, "")


def _last_cells(text: str, width: int) -> str:
    """The end of ``text`` that fits in ``width`` columns."""
    used, start = 0, len(text)
    while start > 0 and used + cell_len(text[start - 1]) <= width:
        start -= 1
        used += cell_len(text[start])
    return text[start:]


def _fit(text: Text, width: int) -> Text:
    """``text`` cut to ``width`` cells, with an ellipsis when something was cut."""
    if text.cell_len > width:
        text.truncate(width, overflow="ellipsis")
    return text


def _fit_middle(name: str, width: int) -> str:
    """A long name cut in the middle (``anthropic/cla…t-4.6``): both its author and its
    version stay readable."""
    if len(name) <= width:
        return name
    if width <= 3:
        return name[:width]
    keep = width - 1
    return name[: (keep + 1) // 2] + "…" + name[len(name) - keep // 2 :]

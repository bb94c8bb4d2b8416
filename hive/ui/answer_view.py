"""The answer on a terminal: readable prose, and code that copies cleanly.

No border around it: a box puts ``│`` and padding on every line, so code copied from the screen
would not run. Prose is rendered as Markdown at a readable width (``PROSE_WIDTH`` at most);
code blocks are written as their own lines, exactly (tabs kept; not highlighted: that would
mean rendering them), between their fence lines, so what is copied is exactly the code (a line
wider than the terminal is wrapped by the terminal itself, which copies it back as one line).
Not a terminal: the answer's text exactly as the model wrote it.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console
from rich.markdown import Markdown
from rich.text import Text

from hive.text import terminal_safe

PROSE_WIDTH = 100  # columns: longer lines are hard to read, whatever the terminal's width


@dataclass(frozen=True, slots=True)
class Block:
    """A run of the answer's lines: prose, or one code block (``fence`` its opening line)."""

    text: str
    code: bool = False
    fence: str = ""
    language: str = ""


def blocks(answer: str) -> list[Block]:
    """The answer cut into prose and code blocks, as a Markdown parser sees them. A fence
    inside a list item is cut out too (models put install steps in numbered lists): its code
    is printed as the parser read it, without the item's indent, between the prose around it."""
    from markdown_it import MarkdownIt

    answer = answer.replace("\r\n", "\n").replace("\r", "\n")
    lines = answer.split("\n")
    out: list[Block] = []
    pos = 0
    for token in MarkdownIt("commonmark").parse(answer):
        if token.type not in ("fence", "code_block") or token.map is None:
            continue
        start, end = token.map
        if start < pos:  # inside a block already cut out
            continue
        if start > pos:
            out.append(Block("\n".join(lines[pos:start])))
        fenced = token.type == "fence"
        body = token.content.rstrip("\n")
        out.append(
            Block(body, code=True, fence=token.markup if fenced else "", language=token.info)
        )
        pos = end
    if pos < len(lines):
        out.append(Block("\n".join(lines[pos:])))
    return [b for b in out if b.code or b.text.strip()]


def print_answer(console: Console, answer: str) -> None:
    if not console.is_terminal:
        console.file.write(answer.rstrip("\n") + "\n")
        console.file.flush()
        return
    print_markdown(console, answer)


def print_markdown(console: Console, text: str) -> None:
    """Markdown for a reader: prose at a readable width; code blocks written as they are —
    tabs and all, never wrapped, cropped or padded — between their fence lines. Control
    characters go (``terminal_safe``): what a model wrote is shown, never obeyed."""
    width = min(console.width, PROSE_WIDTH)
    for block in blocks(terminal_safe(text)):
        if not block.code:
            console.print(Markdown(block.text), width=width)
            continue
        if block.fence:
            console.print(Text(block.fence + block.language, style="dim"), soft_wrap=True)
        console.file.write(block.text + "\n")  # the bytes of the code: a copy runs
        console.file.flush()
        if block.fence:
            console.print(Text(block.fence, style="dim"), soft_wrap=True)

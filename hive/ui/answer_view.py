"""The answer on a terminal: readable prose, and code that copies cleanly.

No border around it: a box puts ``│`` and padding on every line, so code copied from the screen
would not run. Prose is rendered as Markdown at a readable width (``PROSE_WIDTH`` at most);
code blocks are printed as their own lines, highlighted but never wrapped, cropped or padded,
between their fence lines, so what is copied is exactly the code (a line wider than the
terminal is wrapped by the terminal itself, which copies it back as one line). Not a
terminal: the answer's text exactly as the model wrote it.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console
from rich.markdown import Markdown
from rich.syntax import Syntax
from rich.text import Text

PROSE_WIDTH = 100  # columns: longer lines are hard to read, whatever the terminal's width


@dataclass(frozen=True, slots=True)
class Block:
    """A run of the answer's lines: prose, or one code block (``fence`` its opening line)."""

    text: str
    code: bool = False
    fence: str = ""
    language: str = ""


def blocks(answer: str) -> list[Block]:
    """The answer cut into prose and code blocks, as a Markdown parser sees them (a fence
    inside a list item stays with its prose: only top-level blocks are cut out)."""
    from markdown_it import MarkdownIt

    lines = answer.split("\n")
    out: list[Block] = []
    pos = 0
    for token in MarkdownIt("commonmark").parse(answer):
        if token.level != 0 or token.type not in ("fence", "code_block") or token.map is None:
            continue
        start, end = token.map
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
    """Markdown for a reader: prose at a readable width, code blocks as they are."""
    width = min(console.width, PROSE_WIDTH)
    for block in blocks(text):
        if not block.code:
            console.print(Markdown(block.text), width=width)
            continue
        if block.fence:
            console.print(Text(block.fence + block.language, style="dim"), soft_wrap=True)
        console.print(_highlighted(block), soft_wrap=True)
        if block.fence:
            console.print(Text(block.fence, style="dim"), soft_wrap=True)


def _highlighted(block: Block) -> Text:
    lexer = block.language.split()[0] if block.language.strip() else "text"
    syntax = Syntax("", lexer, theme="ansi_dark", background_color="default")
    text = syntax.highlight(block.text)
    text.rstrip()
    return text

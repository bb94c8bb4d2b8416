"""What a run is about besides its question: the user's instructions, attached files, and the
conversation it follows up.

Every call of a run sends the same context first — one system message with the instructions
and the files, then the earlier turns (question, final answer) — and only then its stage's own
prompt and material. So the front of every prompt is identical across stages, generators and a
conversation's follow-ups, which is what lets OpenRouter's prompt caching reuse it, and every
stage reads the files and the conversation before the job it is given.
"""

from __future__ import annotations

from dataclasses import dataclass

Messages = list[dict[str, str]]

INSTRUCTIONS = (
    "The user gave instructions for this request, in <instructions> below. Honour them in what "
    "you write (its language, the assumptions it makes, its form) while doing the job the next "
    "system message gives you; they do not change that job."
)
FILES = (
    "The user attached these files, each in a <file> block named after it. They are part of "
    "the question: read them before answering, and refer to them by name."
)
FOLLOW_UP = (
    "This request follows up an earlier conversation, given as the user and assistant messages "
    "after this one: the assistant messages are the final answers the user received. The "
    "question at the end is the follow-up; answer it in that context."
)


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file the user attached: ``name`` as they gave it (or ``stdin``), its text."""

    name: str
    text: str


@dataclass(frozen=True, slots=True)
class Turn:
    """An earlier turn of the conversation: its question and the final answer it got."""

    question: str
    answer: str


@dataclass(frozen=True, slots=True)
class Context:
    system: str = ""  # the user's instructions (--system, or the profile's)
    files: tuple[Attachment, ...] = ()  # the conversation's files, then this run's
    turns: tuple[Turn, ...] = ()  # earlier turns, oldest first

    def prefix(self) -> Messages:
        """The messages every call of the run sends before its stage's own."""
        parts = []
        if self.system.strip():
            parts.append(
                f"{INSTRUCTIONS}\n\n<instructions>\n{self.system.strip()}\n</instructions>"
            )
        if self.files:
            parts.append(FILES + "\n\n" + "\n\n".join(file_block(f) for f in self.files))
        if self.turns:
            parts.append(FOLLOW_UP)
        messages: Messages = []
        if parts:
            messages.append({"role": "system", "content": "\n\n".join(parts)})
        for turn in self.turns:
            messages.append({"role": "user", "content": turn.question})
            messages.append({"role": "assistant", "content": turn.answer})
        return messages

    def __bool__(self) -> bool:
        return bool(self.system.strip() or self.files or self.turns)


NO_CONTEXT = Context()


def file_block(attachment: Attachment) -> str:
    """A file between tags that name it. A closing tag inside the file would end the block
    early, so one is written with a zero-width space (``</file\u200b>``): the model reads the
    same text, and the block ends where the file does."""
    body = attachment.text.replace("</file>", "</file\u200b>")
    name = attachment.name.replace('"', "'")
    return f'<file name="{name}">\n{body.rstrip()}\n</file>'

"""What a run is about besides its question: the user's instructions, attached files, and the
conversation it follows up.

Every call of a run sends one system message that begins with the same shared text — the
instructions and the files — and then gives the stage's own job; the earlier turns (question,
final answer) follow as user and assistant messages, and the stage's material is the last user
message. One system message, first: some providers refuse a second one, or one after the
conversation has begun. The shared text is the front of every prompt, identical across stages
and generators (and across a conversation's turns while no file is added), which is what lets
a provider's own prefix caching reuse it (Anthropic's needs ``cache_control`` markers, which
hive does not send); every stage reads the files before its job.
"""

from __future__ import annotations

from dataclasses import dataclass

Messages = list[dict[str, str]]

INSTRUCTIONS = (
    "The user gave instructions for this request, in <instructions> below. Honour them in what "
    "you write (its language, the assumptions it makes, its form) while doing the job described "
    "after them; they do not change that job."
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
JOB = "Your job in this step:"


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

    def shared(self) -> str:
        """The text every call's system message begins with ("" with no context)."""
        parts = []
        if self.system.strip():
            parts.append(
                f"{INSTRUCTIONS}\n\n<instructions>\n{self.system.strip()}\n</instructions>"
            )
        if self.files:
            parts.append(FILES + "\n\n" + "\n\n".join(file_block(f) for f in self.files))
        if self.turns:
            parts.append(FOLLOW_UP)
        return "\n\n".join(parts)

    def messages(self, job: str, user: str) -> Messages:
        """A call's messages: the shared text and ``job`` as one system message, the earlier
        turns, then ``user`` (the stage's material)."""
        shared = self.shared()
        system = f"{shared}\n\n{JOB}\n\n{job}" if shared else job
        out: Messages = [{"role": "system", "content": system}]
        for turn in self.turns:
            out.append({"role": "user", "content": turn.question})
            out.append({"role": "assistant", "content": turn.answer})
        out.append({"role": "user", "content": user})
        return out

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

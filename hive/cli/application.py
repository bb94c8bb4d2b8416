"""What every command shares: one ``App`` per invocation, built lazily, and the one error net.

The root callback puts an ``App`` in the Typer context; a command asks it for the paths and
the settings (``state(ctx).paths``) instead of resolving them itself, so each is read once,
and only by the commands that need it: ``hive --help`` reads neither. A settings file that
does not validate fails where a command first asks for it, inside the net.

The net is the root group's ``invoke`` (``HiveGroup``): every command of every group runs
inside ``edge.error_edge``, which turns a ``HiveError`` into one redacted line and its exit
code, a closed stdout into 141 and a bug into one line (a traceback with ``--debug``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperGroup

if TYPE_CHECKING:
    from hive.store.paths import Paths
    from hive.store.settings import LoadedSettings, Settings


@dataclass
class App:
    """The invocation's shared state: ``debug`` from the root options; the rest on demand."""

    debug: bool = False

    @cached_property
    def paths(self) -> Paths:
        from hive.store.paths import resolve_paths

        return resolve_paths()

    @cached_property
    def loaded(self) -> LoadedSettings:
        """The settings with where each came from (``hive config show``)."""
        from hive.store.settings import load_settings

        return load_settings(self.paths)

    @property
    def settings(self) -> Settings:
        return self.loaded.settings

    def settings_changed(self) -> None:
        """The command changed a setting: the next read loads the file again."""
        self.__dict__.pop("loaded", None)


def state(ctx: typer.Context) -> App:
    """The ``App`` of the invocation ``ctx`` belongs to (a bare one when a test invokes a
    command without the root callback)."""
    root = ctx.find_root()
    if not isinstance(root.obj, App):
        root.obj = App()
    return root.obj


class HiveGroup(TyperGroup):
    """The root command group: runs whichever command was asked inside the one error net."""

    def invoke(self, ctx: Any) -> Any:
        from hive.cli.edge import error_edge

        with error_edge(bool(ctx.params.get("debug"))):
            return super().invoke(ctx)

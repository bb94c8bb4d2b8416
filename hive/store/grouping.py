"""What ``hive cost`` puts one row per. A module of its own, and light: the CLI names the
choices of ``--by`` from it without loading the store."""

from __future__ import annotations

from enum import StrEnum


class Grouping(StrEnum):
    """What ``hive cost`` puts one row per: a local day, ISO week or month, the model that
    answered, the profile or the stage."""

    day = "day"
    week = "week"
    month = "month"
    model = "model"
    profile = "profile"
    stage = "stage"


TIME_GROUPINGS = (Grouping.day, Grouping.week, Grouping.month)

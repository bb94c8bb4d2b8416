"""Where hive keeps its files: platformdirs' folders for the app, or all under ``HIVE_HOME``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

APP = "hive"


@dataclass(frozen=True, slots=True)
class Paths:
    config_dir: Path
    data_dir: Path
    cache_dir: Path

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def profiles_file(self) -> Path:
        return self.config_dir / "profiles.toml"

    @property
    def keys_file(self) -> Path:
        return self.config_dir / "keys.toml"


def resolve_paths() -> Paths:
    """``HIVE_HOME=/dir`` puts config, data and cache under one folder (portable setups, tests)."""
    home = os.environ.get("HIVE_HOME", "").strip()
    if home:
        root = Path(home).expanduser()
        return Paths(root / "config", root / "data", root / "cache")
    import platformdirs

    return Paths(
        Path(platformdirs.user_config_dir(APP, appauthor=False)),
        Path(platformdirs.user_data_dir(APP, appauthor=False)),
        Path(platformdirs.user_cache_dir(APP, appauthor=False)),
    )

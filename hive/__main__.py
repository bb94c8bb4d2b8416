"""Allow ``python -m hive``."""

from hive.cli.entry import main

main()

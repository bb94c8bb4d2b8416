"""Allow ``python -m hive``."""

from hive.cli.app import main

main()

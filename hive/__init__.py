"""hive: multi-model AI consensus from the terminal."""

__version__ = "0.1.0"

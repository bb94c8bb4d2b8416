"""Local state: where hive keeps settings, keys and profiles, and how it writes them."""

"""Renderers: live terminal, plain text and JSON views of pipeline events."""

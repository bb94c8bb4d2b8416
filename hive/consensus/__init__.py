"""The four-stage consensus pipeline: UI-free, event-emitting."""

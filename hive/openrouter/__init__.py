"""OpenRouter: the client, its SSE reader, errors, simulator and prices."""

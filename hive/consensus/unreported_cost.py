"""What a call cost when the server did not say: priced from the catalog, and marked estimated.

Some OpenAI-compatible servers report no cost; a call stopped or cancelled mid-stream has none
either, though what streamed may be billed. Such a call is priced from the catalog: its reported
tokens, or else hive's own count of what was sent and received. It is left unknown (None) when
the model has no known price: never a made-up number.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from hive.consensus.estimate import PriceOf
from hive.consensus.events import CallRecord
from hive.openrouter.tokens import approx_tokens


def price_unreported(
    record: CallRecord, price_of: PriceOf, sent: int, asked: Sequence[str]
) -> CallRecord:
    """``record`` with its cost estimated (``cost_estimated``), or as it was when the model
    has no known price. ``sent``: hive's count of the prompt's tokens; ``asked``: the models
    the call asked for, its fallbacks included.

    The model that answered is priced; a name the catalog does not know and that is none of
    the models the call asked for is a server's own name for the requested model (a local
    server says ``llama-3-8b.gguf``), so that call is priced as the one requested."""
    used = record.model_used or record.model
    price = price_of(used)
    if price is None and used not in asked:
        price = price_of(record.model)
    if price is None or not price.known:
        return record
    prompt = record.prompt_tokens
    if prompt is None:
        prompt = sent
    completion = record.completion_tokens
    if completion is None:
        completion = approx_tokens(record.content) if record.content else 0
    return dataclasses.replace(record, cost=price.cost(prompt, completion), cost_estimated=True)

"""The one codec of :class:`domain.offers.Offer` for the adapters, derived from the dataclass.

A pydantic ``TypeAdapter`` reads the fields off the domain type, so adding a field to ``Offer``
needs no change here. Decoding builds the offer through its ``__post_init__``, so a decoded
offer is as valid as a constructed one (an invalid one raises ``InvalidInput``); a value of the
wrong shape or type raises pydantic's ``ValidationError``, a ``ValueError``.

JSON form (the Redis offers cache): enums by value, tuples as lists, datetimes as ISO 8601
(UTC written ``Z``). Entries written by the hand-written map this replaced (``+00:00``) decode
to the same offer, and a missing key takes the field's default.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from domain.offers import Offer

OFFER = TypeAdapter(Offer)


def offer_to_json(offer: Offer) -> dict[str, Any]:
    """``offer`` as JSON-ready values (``json.dumps`` takes it as is)."""
    data: dict[str, Any] = OFFER.dump_python(offer, mode="json")
    return data


def offer_from_json(data: Any) -> Offer:
    """The offer ``offer_to_json`` made (lax: ISO strings, enum values and lists convert)."""
    return OFFER.validate_python(data)

"""The one parse of a request's query text, shared by the rate limits and Strawberry.

:func:`parse_document` is graphql-core's ``parse`` behind a bounded LRU cache (unique query
texts cannot grow memory). The rate limits read the document before anything runs
(``schema/rate_limits.py``) and :class:`SharedParserCache` hands Strawberry the same cached
document, so a request is parsed once, and a query text seen before is not parsed at all.
Both call it the same way (the text, and ``max_tokens`` by keyword) so both hit one entry.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from graphql import DocumentNode, parse
from strawberry.extensions import ParserCache

# Breadth: a document of more tokens is refused unparsed (GraphiQL's introspection query is
# ~200 tokens).
MAX_TOKENS = 2_000
# Parsed documents (and validation answers, schema/build.py) kept per process.
CACHE_SIZE = 256


@lru_cache(maxsize=CACHE_SIZE)
def parse_document(query: str, **options: Any) -> DocumentNode:
    """The parsed document (raises ``GraphQLError`` as ``parse`` does; errors are not kept).
    ``options`` are ``parse``'s, by keyword, as Strawberry passes its parse options
    (``max_tokens=MAX_TOKENS``, from MaxTokensLimiter)."""
    return parse(query, **options)


class SharedParserCache(ParserCache):
    """Strawberry's ParserCache over :func:`parse_document`'s cache."""

    def __init__(self) -> None:
        super().__init__(maxsize=CACHE_SIZE)
        self.cached_parse_document = parse_document

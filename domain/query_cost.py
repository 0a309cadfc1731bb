"""Query cost: how much work a GraphQL request asks for, before it runs (API.md "Protection").

The arithmetic only; the walk over the parsed document and the table of field weights are in
``schema/cost.py``. A field costs::

    cost = weight + items × (the cost of its selection)

* ``weight``: 0 for a scalar or enum, 1 for an object, more for a field that reads DynamoDB
  (``schema/cost.py:FIELD_WEIGHTS``);
* ``items``: 1 for a single object; for a list, the page size in force: the ``first`` of the
  connection it belongs to (``products(first: 50) { edges … }``: 50 edges), else the default
  page size (``first`` absent, or a list that is not paginated).

A request over its limit is refused before anything runs, with ``QUERY_TOO_COMPLEX``.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.errors import DomainError, ErrorCode

SCALAR_WEIGHT = 0
OBJECT_WEIGHT = 1
DYNAMODB_WEIGHT = 10  # a DynamoDB Query per parent object: the timeline, the sales counters
# ``__schema`` / ``__type``: answered from memory, whatever is selected under them, so a fixed
# price (GraphiQL's introspection query costs exactly this) rather than a walk of the schema
INTROSPECTION_COST = 100


def page_size(*, first: object, default: int) -> int:
    """The number of items a list is expected to hold: its ``first`` when that is an int (a
    negative one is refused by the resolver, and counts 0 here), else the default."""
    if isinstance(first, bool) or not isinstance(first, int):
        return default
    return max(first, 0)


def field_cost(*, weight: int, items: int, selection: int) -> int:
    return weight + items * selection


@dataclass(frozen=True, slots=True)
class QueryCost:
    requested: int
    limit: int

    @property
    def allowed(self) -> bool:
        return self.requested <= self.limit

    def as_extension(self) -> dict[str, int]:
        """What every response carries as ``extensions.cost``."""
        return {"requested": self.requested, "limit": self.limit}


class QueryTooComplex(DomainError):
    code = ErrorCode.QUERY_TOO_COMPLEX

    def __init__(self, cost: QueryCost) -> None:
        super().__init__(
            f"query cost {cost.requested} exceeds the limit {cost.limit}: ask for fewer items "
            "(a smaller `first`), fewer aliases or fewer nested lists"
        )
        self.cost = cost


def check(cost: QueryCost) -> None:
    """Refuse a request that asks for more than its limit."""
    if not cost.allowed:
        raise QueryTooComplex(cost)

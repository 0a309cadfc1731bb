"""What a GraphQL request costs the rate limits, read from its documents before anything runs.

:class:`schema.http.GraphQLApp` calls :func:`request_charge` once per HTTP request, after the
body is parsed and before any operation executes, so a batch is charged (or refused) as a
whole. Each document counts:

* its weight, from the :data:`RequestCost` hook: 1 by default (:func:`unit_cost`); the query
  cost feature plugs its figure in there (``GraphQLApp(request_cost=...)``);
* each root field of the operation that runs whose mutation has a bucket of its own
  (``domain.rate_limits.MUTATION_BUCKETS``): every alias, fragment spread and inline fragment
  counts, ``@skip``/``@include`` or not (counting too much is the safe side).

A document that does not parse costs 1 and runs no mutation (Strawberry answers its error).
The parse is Strawberry's own, cached (``schema/parsing.py``): a request is parsed once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
)
from graphql.error import GraphQLError

from domain.rate_limits import MUTATION_BUCKETS, Bucket
from schema.parsing import MAX_TOKENS, parse_document

# the weight of one document: (document, operationName, variables) -> at least 1
RequestCost = Callable[[DocumentNode, str | None, Mapping[str, Any] | None], int]


def unit_cost(
    document: DocumentNode, operation_name: str | None, variables: Mapping[str, Any] | None
) -> int:
    """Every request weighs 1 until query cost says otherwise."""
    return 1


@dataclass(frozen=True, slots=True)
class RequestCharge:
    weight: int
    mutations: Mapping[Bucket, int]


@dataclass(frozen=True, slots=True)
class Operation:
    """What the HTTP body asked for (Strawberry's ``GraphQLRequestData``, in short)."""

    query: str | None
    operation_name: str | None = None
    variables: Mapping[str, Any] | None = None


def request_charge(operations: Iterable[Operation], *, cost: RequestCost) -> RequestCharge:
    weight = 0
    mutations: Counter[Bucket] = Counter()
    for operation in operations:
        document = _parse(operation.query)
        if document is None:
            weight += 1
            continue
        weight += max(1, cost(document, operation.operation_name, operation.variables))
        mutations.update(mutation_counts(document, operation.operation_name))
    return RequestCharge(weight=max(1, weight), mutations=dict(mutations))


def _parse(query: str | None) -> DocumentNode | None:
    if not query:
        return None
    try:
        return parse_document(query, max_tokens=MAX_TOKENS)  # Strawberry's parse, cached
    except GraphQLError:
        return None


def mutation_counts(document: DocumentNode, operation_name: str | None) -> Counter[Bucket]:
    """How many times the operation that runs calls each mutation with a bucket."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    counts: Counter[Bucket] = Counter()
    if len(operations) != 1 or operations[0].operation != OperationType.MUTATION:
        return counts  # no such operation, or an ambiguous one: nothing runs
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    for name in root_fields(operations[0].selection_set, fragments, seen=set()):
        bucket = MUTATION_BUCKETS.get(name)
        if bucket is not None:
            counts[bucket] += 1
    return counts


def root_fields(
    selection_set: SelectionSetNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    *,
    seen: set[str],
) -> Iterable[str]:
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            yield selection.name.value
        elif isinstance(selection, InlineFragmentNode):
            yield from root_fields(selection.selection_set, fragments, seen=seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is not None and name not in seen:  # a cycle is a validation error
                yield from root_fields(fragment.selection_set, fragments, seen=seen | {name})

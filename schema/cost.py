"""Query cost: the weight of each field, and the walk that adds them up (API.md "Protection").

The arithmetic and the error are pure (``domain/query_cost.py``); this is where the weights
live. A scalar or enum weighs 0, an object 1, and the fields in :data:`FIELD_WEIGHTS` what
they say (a DynamoDB read: 10). Lists multiply their selection by their page size: the
``first`` of their connection (variables resolved), else the default page size.

:class:`QueryCostLimiter` prices the operation once it is valid, before it runs: over the limit
it is refused with ``QUERY_TOO_COMPLEX``; either way the response carries
``extensions.cost = {requested, limit}``, and the request's ASGI scope carries the cost in
``scope["state"]["query_cost"]`` (summed over a batch), the weight a rate limiter gives it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_operation_ast,
    is_leaf_type,
)
from graphql.type.definition import GraphQLOutputType
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

from domain.query_cost import (
    DYNAMODB_WEIGHT,
    INTROSPECTION_COST,
    OBJECT_WEIGHT,
    SCALAR_WEIGHT,
    QueryCost,
    QueryTooComplex,
    field_cost,
    page_size,
)

QUERY_COST_STATE_KEY = "query_cost"
PAGE_ARGUMENT = "first"

# (GraphQL type, field) → weight, for the fields that cost more than their kind (scalar 0,
# object 1). Keep it next to the resolvers' I/O: a field that starts reading DynamoDB,
# Razorpay or another per-parent store belongs here.
FIELD_WEIGHTS: Mapping[tuple[str, str], int] = {
    # one DynamoDB Query per session (timeline_by_session loads each session's own partition)
    ("PaymentSession", "timeline"): DYNAMODB_WEIGHT,
    # DynamoDB reads of the daily counters, from..to
    ("Query", "salesDashboard"): DYNAMODB_WEIGHT,
}

INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})

# (schema, document, operation, variables, page size, weights) -> cost, for one request
_Priced = tuple[GraphQLSchema, DocumentNode, str | None, Mapping[str, Any] | None, int, object]
_request_costs: ContextVar[list[tuple[_Priced, int]] | None] = ContextVar(
    "request_query_costs", default=None
)


@contextmanager
def costs_remembered() -> Iterator[None]:
    """Inside, :func:`query_cost` prices each (document, operation, variables) once: the rate
    limits' weight and :class:`QueryCostLimiter` of one request share the walk (the document is
    the same object: schema/parsing.py's cache hands both the one parse)."""
    token = _request_costs.set([])
    try:
        yield
    finally:
        _request_costs.reset(token)


def _remembered(key: _Priced) -> int | None:
    for (schema, document, operation, variables, page, weights), cost in _request_costs.get() or ():
        if (
            schema is key[0]
            and document is key[1]
            and operation == key[2]
            and (variables is key[3] or variables == key[3])
            and page == key[4]
            and weights is key[5]
        ):
            return cost
    return None


def query_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    *,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
    default_page_size: int,
    weights: Mapping[tuple[str, str], int] = FIELD_WEIGHTS,
) -> int:
    """The cost of the operation of a *valid* document that would run (0 when none would)."""
    remembered = _request_costs.get()
    if remembered is None:
        return _query_cost(schema, document, operation_name, variables, default_page_size, weights)
    key: _Priced = (schema, document, operation_name, variables, default_page_size, weights)
    cost = _remembered(key)
    if cost is None:
        cost = _query_cost(schema, document, operation_name, variables, default_page_size, weights)
        remembered.append((key, cost))
    return cost


def _query_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
    default_page_size: int,
    weights: Mapping[tuple[str, str], int],
) -> int:
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return 0
    root = schema.get_root_type(operation.operation)
    if root is None:
        return 0
    walk = _Walk(
        schema=schema,
        document=document,
        operation=operation,
        variables=variables or {},
        default_page_size=default_page_size,
        weights=weights,
    )
    return walk.selection_set(operation.selection_set, root, page=default_page_size)


def request_weight(
    schema: GraphQLSchema, *, default_page_size: int, limit: int
) -> Callable[[DocumentNode, str | None, Mapping[str, Any] | None], int]:
    """The rate limits' weight of a document (``schema.rate_limits.RequestCost``): its cost,
    at least 1 (``{ __typename }`` costs 0 and still is a request) and at most ``limit`` (a
    document over it is refused unrun: it costs its caller no more than the costliest one
    allowed). Priced before validation: an invalid document weighs what it names."""

    def weight(
        document: DocumentNode, operation_name: str | None, variables: Mapping[str, Any] | None
    ) -> int:
        cost = query_cost(
            schema,
            document,
            operation_name=operation_name,
            variables=variables,
            default_page_size=default_page_size,
        )
        return min(max(cost, 1), limit)

    return weight


class _Walk:
    def __init__(
        self,
        *,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any],
        default_page_size: int,
        weights: Mapping[tuple[str, str], int],
    ) -> None:
        self._schema = schema
        self._fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self._variables = dict(variables)
        for definition in operation.variable_definitions or ():
            name = definition.variable.name.value
            default = definition.default_value
            if name not in self._variables and isinstance(default, IntValueNode):
                self._variables[name] = int(default.value)
        self._default = default_page_size
        self._weights = weights
        # a fragment's cost, once per page size: spreading one many times (or fragments of
        # fragments) cannot make the walk itself expensive
        self._fragment_costs: dict[tuple[str, int], int] = {}

    def selection_set(
        self, selection_set: SelectionSetNode | None, parent: GraphQLNamedType, *, page: int
    ) -> int:
        total = 0
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                total += self.field(selection, parent, page=page)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                on = self._type(condition.name.value, parent) if condition else parent
                total += self.selection_set(selection.selection_set, on, page=page)
            elif isinstance(selection, FragmentSpreadNode):
                total += self.fragment(selection.name.value, parent, page=page)
        return total

    def fragment(self, name: str, parent: GraphQLNamedType, *, page: int) -> int:
        key = (name, page)
        if key not in self._fragment_costs:
            self._fragment_costs[key] = 0  # a cycle (refused by validation) adds nothing
            definition = self._fragments.get(name)
            if definition is not None:
                on = self._type(definition.type_condition.name.value, parent)
                self._fragment_costs[key] = self.selection_set(
                    definition.selection_set, on, page=page
                )
        return self._fragment_costs[key]

    def field(self, node: FieldNode, parent: GraphQLNamedType, *, page: int) -> int:
        name = node.name.value
        if name in INTROSPECTION_FIELDS:
            return INTROSPECTION_COST
        fields = (
            parent.fields if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType) else {}
        )
        definition: GraphQLField | None = fields.get(name)
        if definition is None:  # __typename, or a field validation would refuse
            return SCALAR_WEIGHT
        named = get_named_type(definition.type)
        leaf = is_leaf_type(named)
        weight = self._weights.get((parent.name, name), SCALAR_WEIGHT if leaf else OBJECT_WEIGHT)
        if leaf:
            return weight
        own_page = self._first(node, definition)
        if _is_list(definition.type):
            # a list with its own `first` holds that many; else the page it is in (a
            # connection's edges and nodes: the connection's `first`)
            items, inner = (page if own_page is None else own_page), self._default
        else:
            # one object; a connection's `first` is the page of the lists under it
            items, inner = 1, (self._default if own_page is None else own_page)
        selection = self.selection_set(node.selection_set, named, page=inner)
        return field_cost(weight=weight, items=items, selection=selection)

    def _first(self, node: FieldNode, definition: GraphQLField) -> int | None:
        """The field's page size when it takes ``first``: given (literal or variable), else the
        argument's default, else the default page size; None for a field without ``first``."""
        argument = definition.args.get(PAGE_ARGUMENT)
        if argument is None:
            return None
        value: object = None
        for arg in node.arguments or ():
            if arg.name.value != PAGE_ARGUMENT:
                continue
            if isinstance(arg.value, IntValueNode):
                value = int(arg.value.value)
            elif isinstance(arg.value, VariableNode):
                value = self._variables.get(arg.value.name.value)
            break
        else:
            value = argument.default_value
        return page_size(first=value, default=self._default)

    def _type(self, name: str, fallback: GraphQLNamedType) -> GraphQLNamedType:
        return self._schema.get_type(name) or fallback


def _is_list(type_: GraphQLOutputType) -> bool:
    while isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    return isinstance(type_, GraphQLList)


class QueryCostLimiter(SchemaExtension):
    """Prices the operation after validation (listed after ``ValidationCache``), refuses it
    over ``limit``, and reports ``extensions.cost`` on every response."""

    def __init__(self, *, limit: int, default_page_size: int) -> None:
        self.limit = limit
        self.default_page_size = default_page_size
        self.cost = QueryCost(requested=0, limit=limit)  # nothing priced: parse/validation error

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if context.pre_execution_errors is None and document is not None:
            # no ValidationCache ahead of this extension: validate here, once
            context.pre_execution_errors = validate_document(
                context.schema._schema, document, context.validation_rules
            )
        if document is not None and not context.pre_execution_errors:
            self.cost = QueryCost(
                requested=query_cost(
                    context.schema._schema,
                    document,
                    operation_name=context.operation_name,
                    variables=context.variables,
                    default_page_size=self.default_page_size,
                ),
                limit=self.limit,
            )
            _record(context.context, self.cost)
            if not self.cost.allowed:
                error = QueryTooComplex(self.cost)
                # a new list: the one ValidationCache handed over is its cached answer
                context.pre_execution_errors = [
                    GraphQLError(
                        error.message,
                        original_error=error,
                        extensions={"code": error.code.value},
                    )
                ]
        yield

    def get_results(self) -> dict[str, Any]:
        return {"cost": self.cost.as_extension()}


def _record(context: object, cost: QueryCost) -> None:
    """The request's weight for the rate limiter: a batch's operations add up."""
    request: Any = getattr(context, "request", None)
    if request is None:
        return
    state = request.scope.setdefault("state", {})
    state[QUERY_COST_STATE_KEY] = int(state.get(QUERY_COST_STATE_KEY, 0)) + cost.requested

"""Cart rules (domain.cart): merging, order, limits and their codes/fields, coupons, the view."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import partial

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from domain import cart as rules
from domain.cart import Cart, CartLine, LineAdd, LineUpdate
from domain.catalog import Product
from domain.errors import DomainError, ErrorCode
from domain.offers import CouponReason, Offer, OfferKind
from domain.pricing import MAX_CART_TOTAL

NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)


def pid(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"product:{name}"))


def product(
    name: str,
    *,
    price: int = 10_000,
    gst: int = 1800,
    stock: int = 1_000,
    category: str = "misc",
    active: bool = True,
) -> Product:
    return Product(
        id=pid(name),
        sku=name.upper(),
        title=name,
        description="",
        category=category,
        price=price,
        gst_rate_bp=gst,
        stock=stock,
        stock_on_hand=stock,
        active=active,
    )


def catalog(*products: Product) -> dict[str, Product]:
    return {p.id: p for p in products}


def ids() -> Callable[[], str]:
    counter: Iterator[int] = itertools.count(1)
    return lambda: str(uuid.UUID(int=next(counter)))


def empty() -> Cart:
    return Cart(id=str(uuid.uuid4()), customer_id="c1", version=3)


def add(cart: Cart, products: dict[str, Product], *pairs: tuple[str, int]) -> Cart:
    return rules.add_lines(
        cart,
        [LineAdd(product_id=pid(name), quantity=qty) for name, qty in pairs],
        products=products,
        new_id=ids(),
    )


def error(fn: Callable[[], object]) -> DomainError:
    with pytest.raises(DomainError) as caught:
        fn()
    return caught.value


TEA, RICE, SOAP = product("tea"), product("rice", gst=0), product("soap", stock=5)
SHOP = catalog(TEA, RICE, SOAP)


# -- add ---------------------------------------------------------------------------------------


def test_add_creates_lines_in_first_added_order_and_merges_the_same_product() -> None:
    cart = add(empty(), SHOP, ("tea", 2), ("rice", 1))
    cart = rules.add_lines(
        cart,
        [LineAdd(product_id=pid("tea"), quantity=3), LineAdd(product_id=pid("soap"), quantity=1)],
        products=SHOP,
        new_id=lambda: "new-line",
    )
    assert [(line.product_id, line.quantity) for line in cart.lines] == [
        (pid("tea"), 5),
        (pid("rice"), 1),
        (pid("soap"), 1),
    ]
    assert cart.lines[0].id == str(uuid.UUID(int=1))  # merged: the line keeps its id
    assert cart.lines[2].id == "new-line"
    assert cart.version == 3  # rules never bump: the repository does, on save


def test_the_same_product_twice_in_one_call_makes_one_line() -> None:
    cart = add(empty(), SHOP, ("tea", 40), ("tea", 60))
    assert [(line.product_id, line.quantity) for line in cart.lines] == [(pid("tea"), 100)]


def test_product_ids_are_compared_in_canonical_form() -> None:
    cart = add(empty(), SHOP, ("tea", 1))
    cart = rules.add_lines(
        cart, [LineAdd(product_id=f" {pid('tea').upper()} ", quantity=1)], products=SHOP
    )
    assert len(cart.lines) == 1 and cart.lines[0].quantity == 2


@pytest.mark.parametrize("quantity", [0, -1, 101])
def test_quantity_outside_1_to_100_is_quantity_limit(quantity: int) -> None:
    cart = add(empty(), SHOP, ("rice", 1))
    err = error(lambda: add(cart, SHOP, ("rice", 1), ("tea", quantity)))
    assert err.code is ErrorCode.QUANTITY_LIMIT
    assert err.field == ["lines", "1", "quantity"]


def test_merged_quantity_above_100_is_quantity_limit() -> None:
    cart = add(empty(), SHOP, ("tea", 60))
    err = error(lambda: add(cart, SHOP, ("tea", 41)))
    assert (err.code, err.field) == (ErrorCode.QUANTITY_LIMIT, ["lines", "0", "quantity"])
    assert add(cart, SHOP, ("tea", 40)).lines[0].quantity == 100


@pytest.mark.parametrize(
    "raw", [pid("nope"), "not-a-uuid", "", pid("gone")], ids=["unknown", "bad", "blank", "off"]
)
def test_unknown_malformed_or_inactive_product_is_product_not_found(raw: str) -> None:
    products = {**SHOP, pid("gone"): product("gone", active=False)}
    err = error(
        lambda: rules.add_lines(
            empty(),
            [LineAdd(product_id=pid("tea"), quantity=1), LineAdd(product_id=raw, quantity=1)],
            products=products,
        )
    )
    assert (err.code, err.field) == (ErrorCode.PRODUCT_NOT_FOUND, ["lines", "1", "productId"])


def test_more_than_stock_is_out_of_stock_including_merges() -> None:
    err = error(lambda: add(empty(), SHOP, ("soap", 6)))
    assert (err.code, err.field) == (ErrorCode.OUT_OF_STOCK, ["lines", "0", "quantity"])
    cart = add(empty(), SHOP, ("soap", 5))  # exactly the stock is fine
    err = error(lambda: add(cart, SHOP, ("soap", 1)))
    assert err.code is ErrorCode.OUT_OF_STOCK


def test_at_most_50_lines_but_merging_into_a_full_cart_is_fine() -> None:
    many = [product(f"p{i}") for i in range(51)]
    products = catalog(*many)
    full = add(empty(), products, *[(f"p{i}", 1) for i in range(50)])
    assert len(full.lines) == 50
    err = error(lambda: add(full, products, ("p50", 1)))
    assert (err.code, err.field) == (ErrorCode.LINE_LIMIT, ["lines"])
    assert add(full, products, ("p7", 2)).lines[7].quantity == 3


def test_more_than_50_entries_in_one_call_is_line_limit() -> None:
    err = error(lambda: add(empty(), SHOP, *[("tea", 1)] * 51))
    assert err.code is ErrorCode.LINE_LIMIT


# -- update and remove -------------------------------------------------------------------------


def test_update_sets_quantities_keeps_order_and_zero_removes() -> None:
    cart = add(empty(), SHOP, ("tea", 1), ("rice", 1), ("soap", 1))
    tea, rice, soap = cart.lines
    updated = rules.update_lines(
        cart,
        [LineUpdate(line_id=rice.id, quantity=0), LineUpdate(line_id=tea.id, quantity=7)],
        products=SHOP,
    )
    assert [(line.id, line.quantity) for line in updated.lines] == [(tea.id, 7), (soap.id, 1)]


def test_update_naming_a_line_twice_takes_the_last_quantity() -> None:
    cart = add(empty(), SHOP, ("tea", 1))
    line_id = cart.lines[0].id
    twice = [LineUpdate(line_id=line_id, quantity=0), LineUpdate(line_id=line_id, quantity=4)]
    assert rules.update_lines(cart, twice, products=SHOP).lines[0].quantity == 4


def test_update_errors_name_the_entry() -> None:
    cart = add(empty(), SHOP, ("tea", 1), ("soap", 1))
    tea, soap = cart.lines

    def update(*entries: tuple[str, int]) -> Cart:
        return rules.update_lines(
            cart, [LineUpdate(line_id=i, quantity=q) for i, q in entries], products=SHOP
        )

    err = error(lambda: update((tea.id, 2), (str(uuid.uuid4()), 1)))
    assert (err.code, err.field) == (ErrorCode.LINE_NOT_FOUND, ["lines", "1", "lineId"])
    err = error(lambda: update(("garbage", 1)))
    assert (err.code, err.field) == (ErrorCode.LINE_NOT_FOUND, ["lines", "0", "lineId"])
    err = error(lambda: update((tea.id, 101)))
    assert (err.code, err.field) == (ErrorCode.QUANTITY_LIMIT, ["lines", "0", "quantity"])
    err = error(lambda: update((tea.id, -1)))
    assert err.code is ErrorCode.QUANTITY_LIMIT
    err = error(lambda: update((tea.id, 1), (soap.id, 6)))
    assert (err.code, err.field) == (ErrorCode.OUT_OF_STOCK, ["lines", "1", "quantity"])


def test_a_line_whose_product_went_away_can_only_be_removed() -> None:
    cart = add(empty(), SHOP, ("tea", 2))
    gone = {**SHOP, pid("tea"): product("tea", active=False)}
    line_id = cart.lines[0].id
    err = error(
        lambda: rules.update_lines(cart, [LineUpdate(line_id=line_id, quantity=1)], products=gone)
    )
    assert (err.code, err.field) == (ErrorCode.PRODUCT_NOT_FOUND, ["lines", "0", "lineId"])
    emptied = rules.update_lines(cart, [LineUpdate(line_id=line_id, quantity=0)], products=gone)
    assert emptied.lines == ()


def test_remove_lines_and_their_errors() -> None:
    cart = add(empty(), SHOP, ("tea", 1), ("rice", 1), ("soap", 1))
    tea, rice, soap = cart.lines
    assert rules.remove_lines(cart, [rice.id, rice.id]).lines == (tea, soap)
    err = error(lambda: rules.remove_lines(cart, [tea.id, str(uuid.uuid4())]))
    assert (err.code, err.field) == (ErrorCode.LINE_NOT_FOUND, ["lineIds", "1"])
    err = error(lambda: rules.remove_lines(cart, ["x"]))
    assert (err.code, err.field) == (ErrorCode.LINE_NOT_FOUND, ["lineIds", "0"])


# -- coupons, changes, limits --------------------------------------------------------------------


def test_coupon_apply_normalises_and_replaces_remove_clears() -> None:
    cart = rules.apply_coupon(empty(), "  welcome10 ")
    assert cart.coupon_code == "WELCOME10"
    assert rules.apply_coupon(cart, "flat150").coupon_code == "FLAT150"
    assert rules.remove_coupon(cart).coupon_code is None


@pytest.mark.parametrize("code", ["", "   ", "X" * 65, "BAD\x00CODE", "TAB\tCODE"])
def test_blank_or_absurd_codes_are_coupon_invalid(code: str) -> None:
    err = error(lambda: rules.apply_coupon(empty(), code))
    assert (err.code, err.field) == (ErrorCode.COUPON_INVALID, ["code"])


def test_has_changes_sees_lines_and_coupon_only() -> None:
    cart = add(empty(), SHOP, ("tea", 1))
    assert not rules.has_changes(cart, rules.add_lines(cart, [], products=SHOP))
    assert rules.has_changes(cart, rules.apply_coupon(cart, "X"))
    assert rules.has_changes(cart, add(cart, SHOP, ("tea", 1)))
    same = rules.update_lines(
        cart, [LineUpdate(line_id=cart.lines[0].id, quantity=1)], products=SHOP
    )
    assert not rules.has_changes(cart, same)


def test_cart_total_limit_is_on_the_total_without_coupon() -> None:
    # 100 × ₹5,000.00 at 0 % GST is exactly ₹5,00,000: allowed; one paisa more is not.
    at_limit = product("big", price=500_000, gst=0)
    over = product("big", price=500_001, gst=0)
    cart = add(empty(), catalog(at_limit), ("big", 100))
    rules.check_limits(cart, products=catalog(at_limit), now=NOW)
    assert rules.undiscounted_total(cart, products=catalog(at_limit), now=NOW) == MAX_CART_TOTAL
    err = error(lambda: rules.check_limits(cart, products=catalog(over), now=NOW))
    assert (err.code, err.field) == (ErrorCode.CART_TOTAL_LIMIT, ["lines"])
    # a coupon does not count: the same cart with a 50 % coupon is still over
    coupon = rules.apply_coupon(cart, "HALF")
    err = error(lambda: rules.check_limits(coupon, products=catalog(over), now=NOW))
    assert err.code is ErrorCode.CART_TOTAL_LIMIT
    # tax counts: ₹4,50,000 + 12 % GST = ₹5,04,000
    taxed = product("big", price=450_000, gst=1200)
    err = error(lambda: rules.check_limits(cart, products=catalog(taxed), now=NOW))
    assert err.code is ErrorCode.CART_TOTAL_LIMIT


def test_a_cart_pushed_over_the_limit_by_prices_may_still_shrink_but_not_grow() -> None:
    over = catalog(product("big", price=600_000, gst=0))
    cart = Cart(
        id="c",
        customer_id="c1",
        version=1,
        lines=(CartLine(id=str(uuid.uuid4()), product_id=pid("big"), quantity=90),),
    )
    smaller = rules.update_lines(
        cart, [LineUpdate(line_id=cart.lines[0].id, quantity=89)], products=over
    )
    rules.check_limits(smaller, products=over, now=NOW, before=cart)
    bigger = rules.update_lines(
        cart, [LineUpdate(line_id=cart.lines[0].id, quantity=91)], products=over
    )
    err = error(lambda: rules.check_limits(bigger, products=over, now=NOW, before=cart))
    assert err.code is ErrorCode.CART_TOTAL_LIMIT


# -- the priced view ---------------------------------------------------------------------------


def test_view_pairs_lines_with_products_and_prices_them() -> None:
    cart = rules.apply_coupon(add(empty(), SHOP, ("tea", 2), ("rice", 1)), "TEA10")
    offer = Offer.validated(
        id="o1", code="TEA10", kind=OfferKind.PERCENT, percent_bp=1000, product_ids=[pid("tea")]
    )
    view = rules.view_cart(cart, products=SHOP, offer=offer, usage=None, now=NOW)
    # tea: 2 × 10,000 = 20,000; 10 % off = 2,000; tax 18 % of 18,000 = 3,240 → 21,240
    # rice: 10,000, no discount, 0 % → 10,000
    assert [(v.product.title, v.unit_price) for v in view.lines] == [
        ("tea", 10_000),
        ("rice", 10_000),
    ]
    assert [(v.priced.discount, v.priced.tax, v.priced.total) for v in view.lines] == [
        (2_000, 3_240, 21_240),
        (0, 0, 10_000),
    ]
    assert (view.priced.subtotal, view.priced.discount, view.priced.total) == (
        30_000,
        2_000,
        31_240,
    )
    assert view.priced.coupon is not None and view.priced.coupon.applicable
    assert view.offer == offer


def test_view_of_an_unknown_code_keeps_it_with_not_found() -> None:
    cart = rules.apply_coupon(add(empty(), SHOP, ("tea", 1)), "nope")
    view = rules.view_cart(cart, products=SHOP, offer=None, usage=None, now=NOW)
    coupon = view.priced.coupon
    assert coupon is not None
    assert (coupon.code, coupon.applicable, coupon.reason, coupon.discount) == (
        "NOPE",
        False,
        CouponReason.NOT_FOUND,
        0,
    )
    assert view.priced.total == 11_800


# -- invariants under any sequence of changes ----------------------------------------------------
#
# A model of the cart predicts, for every step, either the refusal (code and field) or the exact
# next cart (lines in order, with their ids and quantities). Nothing is caught blindly: a refusal
# the model did not predict, or one with another code, fails the test.

STOCKS = {"p0": 150, "p1": 150, "p2": 150, "p3": 60, "p4": 5, "p5": 0}
NAMES = [*STOCKS, "gone", "ghost"]  # gone: inactive; ghost: not in the catalog at all
PROPERTY_SHOP = catalog(
    *(product(name, stock=stock) for name, stock in STOCKS.items()),
    product("gone", active=False),
)
quantities = st.one_of(st.integers(-2, 8), st.integers(-2, 120))  # small ones meet stock 5
targets = st.one_of(st.integers(0, 2), st.integers(0, 9))  # mostly a line the cart holds
steps = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.sampled_from(NAMES), quantities),
        st.tuples(st.just("update"), targets, quantities),
        st.tuples(st.just("remove"), targets, st.just(0)),
    ),
    max_size=30,
)
Refusal = tuple[ErrorCode, list[str]]
ModelLine = tuple[str, str, int]  # line id, product id, quantity


def _quantity_refusal(quantity: int) -> Refusal | None:
    if 1 <= quantity <= 100:
        return None
    return ErrorCode.QUANTITY_LIMIT, ["lines", "0", "quantity"]


def model_add(lines: list[ModelLine], name: str, quantity: int, next_id: str) -> Refusal | None:
    """Apply one LineAdd to ``lines`` in place, or say why it must be refused."""
    if refusal := _quantity_refusal(quantity):
        return refusal
    if name not in STOCKS:
        return ErrorCode.PRODUCT_NOT_FOUND, ["lines", "0", "productId"]
    position = next((i for i, line in enumerate(lines) if line[1] == pid(name)), None)
    merged = quantity + (lines[position][2] if position is not None else 0)
    if merged > 100:
        return ErrorCode.QUANTITY_LIMIT, ["lines", "0", "quantity"]
    if merged > STOCKS[name]:
        return ErrorCode.OUT_OF_STOCK, ["lines", "0", "quantity"]
    if position is None:
        lines.append((next_id, pid(name), quantity))
    else:
        lines[position] = (lines[position][0], pid(name), merged)
    return None


def model_update(lines: list[ModelLine], line_id: str, quantity: int) -> Refusal | None:
    position = next((i for i, line in enumerate(lines) if line[0] == line_id), None)
    if position is None:
        return ErrorCode.LINE_NOT_FOUND, ["lines", "0", "lineId"]
    if quantity == 0:
        del lines[position]
        return None
    if refusal := _quantity_refusal(quantity):
        return refusal
    _, product_id, _ = lines[position]
    stock = next(s for n, s in STOCKS.items() if pid(n) == product_id)
    if quantity > stock:
        return ErrorCode.OUT_OF_STOCK, ["lines", "0", "quantity"]
    lines[position] = (line_id, product_id, quantity)
    return None


def model_remove(lines: list[ModelLine], line_id: str) -> Refusal | None:
    if all(line[0] != line_id for line in lines):
        return ErrorCode.LINE_NOT_FOUND, ["lineIds", "0"]
    lines[:] = [line for line in lines if line[0] != line_id]
    return None


@settings(max_examples=300, deadline=None)
@given(steps)
def test_any_sequence_matches_the_model(sequence: list[tuple[str, object, int]]) -> None:
    cart = empty()
    model: list[ModelLine] = []
    removed: list[str] = []  # ids of lines the cart held once: well-formed, no longer found
    issued = 0  # line ids taken from new_id so far
    new_id = ids()
    for action, target, quantity in sequence:
        expected = list(model)
        change: Callable[[], Cart]
        if action == "add":
            assert isinstance(target, str)
            refusal = model_add(expected, target, quantity, str(uuid.UUID(int=issued + 1)))
            additions = [LineAdd(product_id=pid(target), quantity=quantity)]
            change = partial(
                rules.add_lines, cart, additions, products=PROPERTY_SHOP, new_id=new_id
            )
        else:
            assert isinstance(target, int)
            known = [line[0] for line in model] + removed
            line_id = known[target] if target < len(known) else "missing"
            if action == "update":
                refusal = model_update(expected, line_id, quantity)
                updates = [LineUpdate(line_id=line_id, quantity=quantity)]
                change = partial(rules.update_lines, cart, updates, products=PROPERTY_SHOP)
            else:
                refusal = model_remove(expected, line_id)
                change = partial(rules.remove_lines, cart, [line_id])
        event(f"{action}: {refusal[0].value if refusal else 'accepted'}")
        if refusal is not None:
            err = error(change)
            assert (err.code, err.field) == refusal, (action, target, quantity)
            continue
        after = change()  # the model accepts this step: any DomainError fails the test
        assert [(line.id, line.product_id, line.quantity) for line in after.lines] == expected
        assert (after.version, after.coupon_code) == (cart.version, cart.coupon_code)
        before_ids, after_ids = [line[0] for line in model], [line[0] for line in expected]
        issued += len(set(after_ids) - set(before_ids))
        removed += [line_id for line_id in before_ids if line_id not in after_ids]
        model, cart = expected, after
        products = [line.product_id for line in cart.lines]
        assert len(set(products)) == len(products) <= 50
        assert all(1 <= line.quantity <= 100 for line in cart.lines)

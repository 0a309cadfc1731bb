"""datasources/postgres/stock.py against real PostgreSQL (and SQLite): holds, releases,
commits and late takes of stock, all or nothing, in product id order, under real concurrency;
``0 <= reserved <= on_hand`` always. And the product repository's save, which sets on hand
only and never what payment sessions hold."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from app.container import Container
from app.settings import Settings
from datasources.postgres import migrate, stock
from datasources.postgres.catalog import SqlProductRepository
from datasources.postgres.tables import ProductRow
from domain.catalog import validated_product
from domain.errors import DomainError, ErrorCode
from infra.local import seed

Sessions = async_sessionmaker[AsyncSession]
T = TypeVar("T")
NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def sessions(container: Container) -> Sessions:
    return container.sessions


async def new_product(sessions: Sessions, on_hand: int, reserved: int = 0) -> str:
    """A product of the test's own (inactive, so no catalog listing ever shows it)."""
    product_id = uuid.uuid4()
    async with sessions() as session, session.begin():
        session.add(
            ProductRow(
                id=product_id,
                sku=f"STK-{product_id.hex[:12]}",
                title="Stock test",
                description="",
                category="test-stock",
                price_paise=100,
                gst_rate_bp=0,
                on_hand=on_hand,
                reserved=reserved,
                active=False,
                created_at=NOW,
                updated_at=NOW,
            )
        )
    return str(product_id)


async def levels(sessions: Sessions, *ids: str) -> dict[str, tuple[int, int]]:
    """(on_hand, reserved) of each product."""
    async with sessions() as session:
        rows = (
            await session.execute(
                select(col(ProductRow.id), col(ProductRow.on_hand), col(ProductRow.reserved)).where(
                    col(ProductRow.id).in_([uuid.UUID(i) for i in ids])
                )
            )
        ).all()
    return {str(i): (on_hand, reserved) for i, on_hand, reserved in rows}


async def in_tx(sessions: Sessions, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async with sessions() as session, session.begin():
        return await work(session)


def assert_invariant(found: dict[str, tuple[int, int]]) -> None:
    for product_id, (on_hand, reserved) in found.items():
        assert 0 <= reserved <= on_hand, (product_id, on_hand, reserved)


# --- one transaction at a time ----------------------------------------------------------------


async def test_reserve_holds_units_without_touching_on_hand(sessions: Sessions) -> None:
    a, b = await new_product(sessions, 5), await new_product(sessions, 3)
    assert await in_tx(sessions, lambda s: stock.reserve(s, {a: 2, b: 3})) is None
    assert await levels(sessions, a, b) == {a: (5, 2), b: (3, 3)}
    assert await in_tx(sessions, lambda s: stock.available(s, [a, b])) == {a: 3, b: 0}


async def test_reserve_is_all_or_nothing_and_names_the_first_short_product(
    sessions: Sessions,
) -> None:
    ids = sorted([await new_product(sessions, 2) for _ in range(3)])
    first, middle, last = ids

    async def short(session: AsyncSession) -> tuple[str | None, dict[str, int]]:
        answer = await stock.reserve(session, {last: 5, first: 1, middle: 5})
        return answer, await stock.available(session, ids)  # seen inside the transaction

    answer, inside = await in_tx(sessions, short)
    assert answer == middle  # the first short one in id order, whatever the mapping's order
    assert inside == {first: 2, middle: 2, last: 2}  # the hold on ``first`` was undone
    assert await levels(sessions, *ids) == {i: (2, 0) for i in ids}


async def test_reserve_of_a_product_that_does_not_exist_answers_its_id(
    sessions: Sessions,
) -> None:
    a, missing = await new_product(sessions, 4), str(uuid.uuid4())
    assert await in_tx(sessions, lambda s: stock.reserve(s, {a: 1, missing: 1})) == missing
    assert await levels(sessions, a) == {a: (4, 0)}


async def test_release_gives_held_units_back_and_commit_takes_them_off_the_shelf(
    sessions: Sessions,
) -> None:
    a, b = await new_product(sessions, 6, reserved=4), await new_product(sessions, 2, reserved=2)
    await in_tx(sessions, lambda s: stock.release(s, {a: 1}))
    assert await levels(sessions, a) == {a: (6, 3)}
    await in_tx(sessions, lambda s: stock.commit(s, {a: 3, b: 2}))
    assert await levels(sessions, a, b) == {a: (3, 0), b: (0, 0)}


@pytest.mark.parametrize("move", [stock.release, stock.commit], ids=["release", "commit"])
async def test_settling_more_than_is_held_is_refused_and_changes_nothing(
    sessions: Sessions, move: Callable[[AsyncSession, dict[str, int]], Awaitable[None]]
) -> None:
    a, b = sorted([await new_product(sessions, 5, reserved=2) for _ in range(2)])
    with pytest.raises(IntegrityError, match="ck_products_reserved_within_on_hand"):
        await in_tx(sessions, lambda s: move(s, {a: 1, b: 3}))
    assert await levels(sessions, a, b) == {a: (5, 2), b: (5, 2)}
    with pytest.raises(stock.StockInvariantError):
        await in_tx(sessions, lambda s: move(s, {str(uuid.uuid4()): 1}))


async def test_take_uses_only_units_nobody_holds_all_or_nothing(sessions: Sessions) -> None:
    free, held = await new_product(sessions, 5), await new_product(sessions, 5, reserved=4)
    assert await in_tx(sessions, lambda s: stock.take(s, {free: 2, held: 2})) == held
    assert await levels(sessions, free, held) == {free: (5, 0), held: (5, 4)}
    assert await in_tx(sessions, lambda s: stock.take(s, {free: 5, held: 1})) is None
    assert await levels(sessions, free, held) == {free: (0, 0), held: (4, 4)}


async def test_quantities_must_be_positive(sessions: Sessions) -> None:
    a = await new_product(sessions, 5)
    for move in (stock.reserve, stock.release, stock.commit, stock.take):
        with pytest.raises(ValueError, match="positive"):
            await in_tx(sessions, lambda s, move=move: move(s, {a: 0}))
    assert await levels(sessions, a) == {a: (5, 0)}


async def test_available_leaves_unknown_ids_out_and_locks_the_rows(
    container: Container, sessions: Sessions
) -> None:
    a = await new_product(sessions, 3, reserved=1)
    async with sessions() as holder, holder.begin():
        assert await stock.available(holder, [a, str(uuid.uuid4()), a]) == {a: 2}
        # while the lock is held, another transaction cannot lock the row
        with pytest.raises(DBAPIError, match=r"(?i)lock"):
            async with sessions() as other, other.begin():
                await other.execute(
                    text("SELECT 1 FROM products WHERE id = :id FOR UPDATE NOWAIT"),
                    {"id": uuid.UUID(a)},
                )
    assert await in_tx(sessions, lambda s: stock.available(s, [])) == {}


async def test_rows_are_touched_in_product_id_order(
    container: Container, sessions: Sessions
) -> None:
    ids = [await new_product(sessions, 9, reserved=3) for _ in range(5)]
    backwards = {i: 1 for i in sorted(ids, reverse=True)}
    seen: list[list[str]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE PRODUCTS"):
            found = [str(p) for p in _flat(parameters) if str(p) in ids]
            seen[-1].extend(found)

    event.listen(container.engine.sync_engine, "before_cursor_execute", record)
    try:
        for move in (stock.reserve, stock.release, stock.commit, stock.take):
            seen.append([])
            await in_tx(sessions, lambda s, move=move: move(s, backwards))
    finally:
        event.remove(container.engine.sync_engine, "before_cursor_execute", record)
    assert seen == [sorted(ids)] * 4


def _flat(parameters: Any) -> list[Any]:
    if isinstance(parameters, dict):
        return list(parameters.values())
    if isinstance(parameters, list | tuple):
        return [p for item in parameters for p in _flat(item)]
    return [parameters]


async def test_a_random_walk_never_breaks_the_invariant_and_matches_a_model(
    sessions: Sessions,
) -> None:
    """A seeded walk of 300 moves over 3 products, checked against a model after each."""
    ids = sorted([await new_product(sessions, 4) for _ in range(3)])
    model = dict.fromkeys(ids, (4, 0))
    rng = random.Random(9)
    for _ in range(300):
        move = rng.choice(["reserve", "release", "commit", "take", "restock"])
        chosen = rng.sample(ids, rng.randint(1, 3))
        quantities = {i: rng.randint(1, 3) for i in chosen}
        want = dict(model)
        if move == "restock":
            await in_tx(sessions, lambda s, q=quantities: _restock(s, q))
            want.update({i: (model[i][0] + q, model[i][1]) for i, q in quantities.items()})
        elif move in ("reserve", "take"):
            short = [i for i in sorted(quantities) if model[i][0] - model[i][1] < quantities[i]]
            answer = await in_tx(sessions, lambda s, m=move, q=quantities: getattr(stock, m)(s, q))
            assert answer == (short[0] if short else None)
            if not short:
                for i, q in quantities.items():
                    on_hand, reserved = model[i]
                    want[i] = (
                        (on_hand, reserved + q) if move == "reserve" else (on_hand - q, reserved)
                    )
        else:
            fits = all(model[i][1] >= q for i, q in quantities.items())
            try:
                await in_tx(sessions, lambda s, m=move, q=quantities: getattr(stock, m)(s, q))
            except IntegrityError:
                assert not fits
            else:
                assert fits
                for i, q in quantities.items():
                    on_hand, reserved = model[i]
                    want[i] = (on_hand - (q if move == "commit" else 0), reserved - q)
        model = want
        found = await levels(sessions, *ids)
        assert found == model, move
        assert_invariant(found)


async def _restock(session: AsyncSession, quantities: dict[str, int]) -> None:
    for product_id, quantity in quantities.items():
        await session.execute(
            text("UPDATE products SET on_hand = on_hand + :q WHERE id = :id"),
            {"q": quantity, "id": uuid.UUID(product_id)},
        )


# --- under concurrency ------------------------------------------------------------------------


async def test_many_reservers_race_for_the_last_unit_and_exactly_one_gets_it(
    sessions: Sessions,
) -> None:
    last = await new_product(sessions, 1)
    answers = await asyncio.gather(
        *(in_tx(sessions, lambda s: stock.reserve(s, {last: 1})) for _ in range(25))
    )
    assert answers.count(None) == 1
    assert answers.count(last) == 24
    assert await levels(sessions, last) == {last: (1, 1)}


async def test_overlapping_baskets_in_any_order_never_deadlock_or_oversell(
    sessions: Sessions,
) -> None:
    ids = [await new_product(sessions, 10) for _ in range(3)]
    rng = random.Random(3)

    async def basket(session: AsyncSession) -> str | None:
        order = rng.sample(ids, 3)  # the mapping's order differs from basket to basket
        answer = await stock.reserve(session, {i: 1 for i in order})
        await asyncio.sleep(0)  # hold the locks across a turn of the loop
        return answer

    answers = await asyncio.gather(*(in_tx(sessions, basket) for _ in range(30)))
    assert answers.count(None) == 10  # every basket takes one of each: 10 fit, 20 are short
    found = await levels(sessions, *ids)
    assert found == {i: (10, 10) for i in ids}
    assert_invariant(found)


async def test_holds_settles_and_late_takes_racing_keep_every_unit(sessions: Sessions) -> None:
    """40 sessions each hold 1-3 units, then half are paid and half released, while late
    captures take what is left; at the end nothing is held and every unit is accounted for."""
    product = await new_product(sessions, 30)
    rng = random.Random(5)
    wanted = [rng.randint(1, 3) for _ in range(40)]
    paid = [False] * 40
    taken = [0] * 10

    async def session_life(index: int) -> None:
        q = wanted[index]
        if await in_tx(sessions, lambda s: stock.reserve(s, {product: q})) is not None:
            wanted[index] = 0
            return
        if index % 2:
            await in_tx(sessions, lambda s: stock.commit(s, {product: q}))
            paid[index] = True
        else:
            await in_tx(sessions, lambda s: stock.release(s, {product: q}))

    async def late_capture(index: int) -> None:
        if await in_tx(sessions, lambda s: stock.take(s, {product: 2})) is None:
            taken[index] = 2

    await asyncio.gather(
        *(session_life(i) for i in range(40)), *(late_capture(i) for i in range(10))
    )
    committed = sum(q for q, p in zip(wanted, paid, strict=True) if p)
    assert await levels(sessions, product) == {product: (30 - committed - sum(taken), 0)}


async def test_saving_the_product_form_while_sessions_reserve_loses_no_hold(
    sessions: Sessions,
) -> None:
    repo = SqlProductRepository(sessions)
    product = validated_product(
        id=str(uuid.uuid4()),
        sku=f"STK-{uuid.uuid4().hex[:10]}",
        title="Raced",
        category="test-stock",
        price=100,
        gst_rate_bp=0,
        stock=20,
        active=False,
    )
    await repo.upsert(product)

    async def save(on_hand: int) -> int | None:
        try:
            await repo.upsert(validated_product_with(product, on_hand))
        except DomainError as error:
            assert error.code == ErrorCode.STOCK_CONFLICT
            return None
        return on_hand

    saves = [20, 12, 25, 8, 20, 15]
    results = await asyncio.gather(
        *(in_tx(sessions, lambda s: stock.reserve(s, {product.id: 1})) for _ in range(15)),
        *(save(n) for n in saves),
    )
    holds = sum(1 for r in results[:15] if r is None)
    on_hand, reserved = (await levels(sessions, product.id))[product.id]
    assert reserved == holds  # no save created or destroyed a hold
    assert on_hand in {n for n in results[15:] if n is not None}
    assert 0 <= reserved <= on_hand


def validated_product_with(product: Any, on_hand: int) -> Any:
    return validated_product(
        id=product.id,
        sku=product.sku,
        title=product.title,
        category=product.category,
        price=product.price,
        gst_rate_bp=product.gst_rate_bp,
        stock=on_hand,
        active=False,
    )


# --- the product repository's save ------------------------------------------------------------


async def test_a_save_sets_on_hand_and_leaves_what_sessions_hold(sessions: Sessions) -> None:
    repo = SqlProductRepository(sessions)
    product = validated_product(
        id=str(uuid.uuid4()),
        sku=f"STK-{uuid.uuid4().hex[:10]}",
        title="Form",
        category="test-stock",
        price=100,
        gst_rate_bp=0,
        stock=5,
        active=False,
    )
    created = await repo.upsert(product, expected_on_hand=0)  # new: nothing on hand before
    assert (created.stock, created.stock_on_hand) == (5, 5)
    assert await in_tx(sessions, lambda s: stock.reserve(s, {product.id: 2})) is None
    saved = await repo.upsert(validated_product_with(product, 5), expected_on_hand=5)
    assert (saved.stock, saved.stock_on_hand) == (3, 5)
    assert await levels(sessions, product.id) == {product.id: (5, 2)}
    await in_tx(sessions, lambda s: stock.release(s, {product.id: 2}))
    assert await levels(sessions, product.id) == {product.id: (5, 0)}  # not 7


async def test_a_save_from_a_stale_form_or_below_the_holds_is_refused(sessions: Sessions) -> None:
    repo = SqlProductRepository(sessions)
    product_id = await new_product(sessions, 6, reserved=4)
    [current] = await repo.get_many([product_id])
    assert current is not None and (current.stock, current.stock_on_hand) == (2, 6)
    form = validated_product_with(current, 9)

    stale = await _refused(repo.upsert(form, expected_on_hand=5))
    assert (stale.code, stale.field) == (ErrorCode.STOCK_CONFLICT, ["expectedStockOnHand"])
    assert "6" in stale.message
    below = await _refused(repo.upsert(validated_product_with(current, 3), expected_on_hand=6))
    assert (below.code, below.field) == (ErrorCode.STOCK_CONFLICT, ["stock"])
    assert "hold 4 units" in below.message
    assert await levels(sessions, product_id) == {product_id: (6, 4)}

    saved = await repo.upsert(validated_product_with(current, 4), expected_on_hand=6)
    assert (saved.stock, saved.stock_on_hand) == (0, 4)  # exactly what is held is fine


async def _refused(change: Awaitable[object]) -> DomainError:
    with pytest.raises(DomainError) as caught:
        await change
    return caught.value


# --- SQLite -----------------------------------------------------------------------------------


@pytest.fixture
async def sqlite_sessions(tmp_path: Path) -> AsyncIterator[Sessions]:
    container = Container(
        Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/stock.db", redis_url=None)
    )
    try:
        await migrate.upgrade(container.engine)
        yield container.sessions
    finally:
        await container.aclose()


async def test_every_move_works_on_sqlite(sqlite_sessions: Sessions) -> None:
    sessions = sqlite_sessions
    a, b = await new_product(sessions, 4), await new_product(sessions, 2)
    assert await in_tx(sessions, lambda s: stock.reserve(s, {a: 1, b: 3})) == b
    assert await levels(sessions, a, b) == {a: (4, 0), b: (2, 0)}
    assert await in_tx(sessions, lambda s: stock.reserve(s, {a: 3, b: 2})) is None
    assert await in_tx(sessions, lambda s: stock.available(s, [a, b])) == {a: 1, b: 0}
    assert await in_tx(sessions, lambda s: stock.take(s, {a: 1, b: 1})) == b
    assert await in_tx(sessions, lambda s: stock.take(s, {a: 1})) is None
    await in_tx(sessions, lambda s: stock.release(s, {a: 1}))
    await in_tx(sessions, lambda s: stock.commit(s, {a: 2, b: 2}))
    assert await levels(sessions, a, b) == {a: (1, 0), b: (0, 0)}
    with pytest.raises(IntegrityError):
        await in_tx(sessions, lambda s: stock.release(s, {a: 1}))
    last = await new_product(sessions, 1)
    answers = await asyncio.gather(
        *(in_tx(sessions, lambda s: stock.reserve(s, {last: 1})) for _ in range(8))
    )
    assert answers.count(None) == 1
    assert await levels(sessions, last) == {last: (1, 1)}


async def test_seeding_again_resets_on_hand_and_keeps_what_sessions_hold(
    sqlite_sessions: Sessions,
) -> None:
    sessions = sqlite_sessions
    await seed.seed_catalog(sessions)
    demo = seed.PRODUCTS[0]
    pid = str(seed.product_id(demo.sku))
    assert await in_tx(sessions, lambda s: stock.reserve(s, {pid: 3})) is None
    await in_tx(sessions, lambda s: stock.commit(s, {pid: 1}))
    await seed.seed_catalog(sessions)
    assert await levels(sessions, pid) == {pid: (demo.stock, 2)}

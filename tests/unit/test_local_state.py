"""The local stack's keep-or-fresh rule (infra/local/state.py): every store kept, or every
store fresh, with the reason said; and the pieces that keep the emulator's state."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.local import state

REGION = "ap-south-1"
SQLITE = "sqlite:/somewhere/storefront.db"


def _saved(directory: Path, *, database: str = SQLITE, seed: int = 7) -> state.Plan:
    first = state.plan(directory, database=database, fresh=False)
    for name in (*state.KEPT_FILES, state.SQLITE_FILE):
        (directory / name).write_text("x")
    state.write_manifest(directory, seed=seed, database=database, ids={"pool": "p1"}, earlier=first)
    return first


def test_a_first_start_is_fresh(tmp_path: Path) -> None:
    found = state.plan(tmp_path, database=SQLITE, fresh=False)
    assert not found.keep and "nothing saved yet" in found.reason


def test_a_database_without_saved_state_beside_it_starts_fresh(tmp_path: Path) -> None:
    (tmp_path / state.SQLITE_FILE).write_text("old")
    found = state.plan(tmp_path, database=SQLITE, fresh=False)
    assert not found.keep and "no saved state beside it" in found.reason


def test_a_complete_saved_state_is_kept_with_its_seed_and_counts_the_runs(tmp_path: Path) -> None:
    first = _saved(tmp_path, seed=1234)
    assert not first.keep
    kept = state.plan(tmp_path, database=SQLITE, fresh=False)
    assert kept.keep and kept.seed == 1234 and "1 earlier run)" in kept.reason
    state.write_manifest(
        tmp_path, seed=kept.seed, database=SQLITE, ids={"pool": "p1"}, earlier=kept
    )
    again = state.plan(tmp_path, database=SQLITE, fresh=False)
    assert again.keep and "2 earlier runs" in again.reason
    assert state.ids_differ(again, {"pool": "p1"}) == []
    assert state.ids_differ(again, {"pool": "p2"}) == ["pool"]


@pytest.mark.parametrize("missing", [*state.KEPT_FILES, state.SQLITE_FILE])
def test_one_missing_store_makes_every_store_start_fresh(tmp_path: Path, missing: str) -> None:
    _saved(tmp_path)
    (tmp_path / missing).unlink()
    found = state.plan(tmp_path, database=SQLITE, fresh=False)
    assert not found.keep and missing in found.reason


def test_another_database_or_the_fresh_flag_starts_fresh(tmp_path: Path) -> None:
    _saved(tmp_path)
    other = state.plan(tmp_path, database="postgresql+asyncpg://u:***@h/db", fresh=False)
    assert not other.keep and "belongs to" in other.reason
    asked = state.plan(tmp_path, database=SQLITE, fresh=True)
    assert not asked.keep and "FRESH=1" in asked.reason


def test_wipe_deletes_every_kept_file_and_nothing_else(tmp_path: Path) -> None:
    _saved(tmp_path)
    (tmp_path / "app.log").write_text("kept")
    state.wipe(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["app.log"]


def test_the_database_identity_hides_the_password(tmp_path: Path) -> None:
    pg = state.database_identity("postgresql+asyncpg://me:secret@db:5432/shop", directory=tmp_path)
    assert "secret" not in pg and pg.endswith("@db:5432/shop")
    assert state.database_identity("sqlite+aiosqlite:///x.db", directory=tmp_path) == (
        f"sqlite:{(tmp_path / state.SQLITE_FILE).resolve()}"
    )

"""Migration 0013 on a store with data: revenue rows become month totals (product line ''),
the key gains the product line, and going back folds product lines into month totals."""

from __future__ import annotations

from sqlalchemy import Engine, text

from support.migrations import to as _to

ROWS = "INSERT INTO revenue (account_id, month, amount) VALUES ('A', '2026-01-01', 100), " \
       "('A', '2026-02-01', 50)"


def test_revenue_keeps_its_rows_and_gains_product_lines(empty: Engine) -> None:
    _to(empty, "0010")
    with empty.begin() as conn:
        conn.execute(text("INSERT INTO department (key, name) VALUES ('sales', 'Sales')"))
        conn.execute(text("INSERT INTO person (email, name, department, role, active) VALUES "
                          "('ann@x.test', 'Ann', 'sales', 'account_manager', true)"))
        conn.execute(text(
            "INSERT INTO account (id, name, industry, owner_email, potential, criteria, state, "
            "state_since, state_imported, created_at, key_account, changed) VALUES ('A', 'A', "
            "'', 'ann@x.test', 0, '{}', 'loyal', '2026-01-01', false, '2026-01-01', false, "
            "true)"))
        conn.execute(text(ROWS))
    _to(empty, "0013")
    with empty.begin() as conn:
        rows = conn.execute(text("SELECT account_id, month, product_line, amount FROM revenue "
                                 "ORDER BY month")).all()
        assert [(r[0], str(r[1]), r[2], r[3]) for r in rows] == [
            ("A", "2026-01-01", "", 100), ("A", "2026-02-01", "", 50)]
        # The same month per product line is now a row of its own.
        conn.execute(text("INSERT INTO revenue (account_id, month, product_line, amount) VALUES "
                          "('A', '2026-03-01', 'pumps', 30), ('A', '2026-03-01', 'valves', 20)"))
    _to(empty, "0010", down=True)  # nothing else sits on 0010 here
    with empty.connect() as conn:
        back = conn.execute(text("SELECT month, amount FROM revenue ORDER BY month")).all()
    assert [(str(m), a) for m, a in back] == [("2026-01-01", 100), ("2026-02-01", 50),
                                              ("2026-03-01", 50)]  # pumps 30 + valves 20

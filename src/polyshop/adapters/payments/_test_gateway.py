"""The built-in test payment gateway: deterministic outcomes chosen by the payment method, and
its own durable record of what it did.

`card` (or any other method) is approved, `card_declined` is declined, `card_error` fails and
`card_slow` is approved after `slow_seconds`. The record lives in a SQLite file (in memory when
no path is given), so any process can ask "what happened to reference R?" after another one was
killed, as the reconciler asks a real gateway. Like a real gateway it is idempotent per
reference, refuses to refund more than was charged, and a voided reference takes no money even
if its charge arrives later.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from polyshop.ports import PaymentOutcome, PaymentResult

DECLINING_METHOD = "card_declined"
FAILING_METHOD = "card_error"
SLOW_METHOD = "card_slow"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS charges (
    reference TEXT PRIMARY KEY, status TEXT NOT NULL, transaction_id TEXT UNIQUE,
    amount TEXT NOT NULL, currency TEXT NOT NULL, refunded TEXT NOT NULL DEFAULT '0'
);
CREATE TABLE IF NOT EXISTS refunds (
    reference TEXT PRIMARY KEY, refund_id TEXT NOT NULL, transaction_id TEXT NOT NULL,
    amount TEXT NOT NULL, currency TEXT NOT NULL
);
"""
_OUTCOMES = {
    "approved": PaymentOutcome.APPROVED,
    "declined": PaymentOutcome.DECLINED,
    "failed": PaymentOutcome.FAILED,
    "voided": PaymentOutcome.FAILED,
}


@dataclass(frozen=True, slots=True)
class ChargeRecord:
    """One line of the gateway's own book: what it did for a reference."""

    reference: str
    status: str  # approved | declined | failed | voided
    transaction_id: str | None
    amount: Decimal
    refunded: Decimal


class TestPaymentGateway:
    __test__ = False  # not a pytest test class
    name = "test"

    def __init__(self, path: Path | None = None, *, slow_seconds: float = 2.0) -> None:
        self.slow_seconds = slow_seconds
        self._db = sqlite3.connect(
            ":memory:" if path is None else str(path), timeout=30, isolation_level=None,
            check_same_thread=False,
        )  # fmt: skip
        if path is not None:
            # WAL and a full sync: a charge the gateway answered survives a kill of any process.
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    async def aclose(self) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE takes the write lock up front: charge and void of one reference, from two
        # processes, are serialised rather than both deciding on what they read.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    async def charge(
        self, *, reference: str, amount: Decimal, currency: str, method: str
    ) -> PaymentResult:
        if method == SLOW_METHOD:
            await asyncio.sleep(self.slow_seconds)
        with self._transaction() as db:
            row = db.execute(
                "SELECT status, transaction_id FROM charges WHERE reference = ?", (reference,)
            ).fetchone()
            if row is not None:
                return _result(row[0], row[1], {"replayed": True, "status": row[0]})
            status, transaction_id = "approved", f"test_{uuid.uuid4().hex}"
            transaction_id_or_none: str | None = transaction_id
            if method == DECLINING_METHOD:
                status, transaction_id_or_none = "declined", None
            elif method == FAILING_METHOD:
                status, transaction_id_or_none = "failed", None
            db.execute(
                "INSERT INTO charges (reference, status, transaction_id, amount, currency)"
                " VALUES (?, ?, ?, ?, ?)",
                (reference, status, transaction_id_or_none, str(amount), currency),
            )
        response: dict[str, Any] = {"amount": str(amount), "currency": currency, "method": method}
        if status == "declined":
            response = {"decline_code": "card_declined"}
        elif status == "failed":
            response = {"error": "processor_unavailable"}
        return _result(status, transaction_id_or_none, response)

    async def retrieve(self, *, reference: str) -> PaymentResult | None:
        row = self._db.execute(
            "SELECT status, transaction_id, amount FROM charges WHERE reference = ?", (reference,)
        ).fetchone()
        if row is None:
            return None
        return _result(row[0], row[1], {"status": row[0], "amount": row[2]})

    async def void(self, *, reference: str) -> None:
        with self._transaction() as db:
            row = db.execute(
                "SELECT status FROM charges WHERE reference = ?", (reference,)
            ).fetchone()
            if row is None:
                # A tombstone: a charge that is still on its way is refused when it arrives.
                db.execute(
                    "INSERT INTO charges (reference, status, amount, currency)"
                    " VALUES (?, 'voided', '0', 'XXX')",
                    (reference,),
                )
            elif row[0] == "approved":
                db.execute("UPDATE charges SET status = 'voided' WHERE reference = ?", (reference,))

    async def refund(
        self, *, reference: str, transaction_id: str, amount: Decimal, currency: str
    ) -> PaymentResult:
        with self._transaction() as db:
            done = db.execute(
                "SELECT refund_id, amount FROM refunds WHERE reference = ?", (reference,)
            ).fetchone()
            if done is not None:
                return PaymentResult(
                    PaymentOutcome.APPROVED, done[0], {"amount": done[1], "replayed": True}
                )
            charge = db.execute(
                "SELECT amount, refunded FROM charges"
                " WHERE transaction_id = ? AND status = 'approved'",
                (transaction_id,),
            ).fetchone()
            if charge is None:
                return PaymentResult(PaymentOutcome.FAILED, None, {"error": "unknown_transaction"})
            charged, refunded = Decimal(charge[0]), Decimal(charge[1])
            if refunded + amount > charged:
                return PaymentResult(PaymentOutcome.DECLINED, None, {"error": "exceeds_charge"})
            refund_id = f"test_refund_{uuid.uuid4().hex}"
            db.execute(
                "UPDATE charges SET refunded = ? WHERE transaction_id = ?",
                (str(refunded + amount), transaction_id),
            )
            db.execute(
                "INSERT INTO refunds (reference, refund_id, transaction_id, amount, currency)"
                " VALUES (?, ?, ?, ?, ?)",
                (reference, refund_id, transaction_id, str(amount), currency),
            )
        return PaymentResult(
            PaymentOutcome.APPROVED, refund_id, {"amount": str(amount), "currency": currency}
        )

    def records(self) -> list[ChargeRecord]:
        """The gateway's whole book, for checking invariants against it."""
        rows = self._db.execute(
            "SELECT reference, status, transaction_id, amount, refunded FROM charges"
        ).fetchall()
        return [ChargeRecord(r[0], r[1], r[2], Decimal(r[3]), Decimal(r[4])) for r in rows]


def _result(status: str, transaction_id: str | None, response: dict[str, Any]) -> PaymentResult:
    return PaymentResult(_OUTCOMES[status], transaction_id, response)

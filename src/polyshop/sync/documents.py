"""The documents of the spec's MongoDB collections, built from the current PostgreSQL state.

Shapes follow schema-design.md (`users`, `products`, `orders`) with `tenant_id` added and money
as Decimal. Deliberate differences: the user document carries no password hash (a second copy
of a credential is a second place to steal it from), and ids are the PostgreSQL UUIDs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

from polyshop.adapters.postgres import CATEGORY_SUBTREE, Database
from polyshop.codec import decode
from polyshop.domain.events import Aggregate
from polyshop.ports import (
    COLLECTIONS,
    Checkpoint,
    DocumentChange,
    DocumentStore,
    Drift,
    OutboxEvent,
    Reader,
    Target,
)
from polyshop.sync._document_sql import SELECTS
from polyshop.sync.relay import snapshot_version

# Each builder reads every document of one collection that a batch asks for with a fixed
# number of statements, sent in one pipeline (one round trip), whatever the batch's size.


async def _fetch_all(
    conn: psycopg.AsyncConnection[Any], queries: Sequence[tuple[str, Sequence[Any]]]
) -> list[list[dict[str, Any]]]:
    """Run the statements in one pipeline (one round trip) and return each one's rows."""
    cursors = [conn.cursor(row_factory=dict_row) for _ in queries]
    try:
        async with conn.pipeline():
            for cursor, (sql, params) in zip(cursors, queries, strict=True):
                await cursor.execute(sql, params)
        return [await cursor.fetchall() for cursor in cursors]
    finally:
        for cursor in cursors:
            await cursor.close()


def _grouped(rows: list[dict[str, Any]], key: str) -> dict[Any, list[dict[str, Any]]]:
    """Rows by `key`, each group in the order the statement returned them."""
    groups: dict[Any, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row.pop(key), []).append(row)
    return groups


# The names from the root down to each of these categories, one row per (start, level).
_CATEGORY_PATHS = """
    WITH RECURSIVE path(start, id, name, parent_id, depth) AS (
        SELECT id, id, name, parent_id, 0 FROM categories WHERE id = ANY(%s)
        UNION ALL
        SELECT p.start, c.id, c.name, c.parent_id, p.depth + 1
          FROM categories c JOIN path p ON c.id = p.parent_id
    )
    SELECT start, name FROM path ORDER BY start, depth DESC
"""


async def product_documents(
    conn: psycopg.AsyncConnection[Any], ids: Sequence[UUID]
) -> dict[UUID, dict[str, Any]]:
    products, variants, attributes, images = await _fetch_all(conn, [
        ("SELECT p.*, c.name AS category_name, v.name AS vendor_name,"
         " v.contact_email AS vendor_contact, b.name AS brand_name, t.currency AS tenant_currency"
         " FROM products p JOIN categories c ON c.tenant_id = p.tenant_id AND c.id = p.category_id"
         " JOIN vendors v ON v.tenant_id = p.tenant_id AND v.id = p.vendor_id"
         " LEFT JOIN brands b ON b.tenant_id = p.tenant_id AND b.id = p.brand_id"
         " JOIN tenants t ON t.id = p.tenant_id WHERE p.id = ANY(%s)", (list(ids),)),
        ("SELECT product_id, id, title, sku, price, inventory_quantity, options"
         " FROM product_variants WHERE product_id = ANY(%s) ORDER BY product_id, position, sku",
         (list(ids),)),
        ("SELECT product_id, name, value, type FROM product_attributes"
         " WHERE product_id = ANY(%s) ORDER BY product_id, name", (list(ids),)),
        ("SELECT product_id, url, alt_text, position, is_primary FROM product_images"
         " WHERE product_id = ANY(%s) ORDER BY product_id, position", (list(ids),)),
    ])  # fmt: skip
    if not products:
        return {}
    (path_rows,) = await _fetch_all(
        conn, [(_CATEGORY_PATHS, (list({p["category_id"] for p in products}),))]
    )
    paths = _grouped(path_rows, "start")
    by_variants, by_attributes = (
        _grouped(variants, "product_id"),
        _grouped(attributes, "product_id"),
    )
    by_images = _grouped(images, "product_id")
    return {
        p["id"]: _product(p, by_variants.get(p["id"], []), by_attributes.get(p["id"], []),
                          by_images.get(p["id"], []),
                          [row["name"] for row in paths.get(p["category_id"], [])])
        for p in products
    }  # fmt: skip


def _product(
    p: dict[str, Any], variants: list[dict[str, Any]], attributes: list[dict[str, Any]],
    images: list[dict[str, Any]], path: list[str],
) -> dict[str, Any]:  # fmt: skip
    return {
        "_id": str(p["id"]),
        "tenant_id": str(p["tenant_id"]),
        "name": p["name"],
        "slug": p["slug"],
        "description": p["description"],
        "shortDescription": p["short_description"],
        "sku": p["sku"],
        "pricing": {
            "price": p["price"],
            "comparePrice": p["compare_price"],
            "costPrice": p["cost_price"],
            "currency": p["tenant_currency"],
        },
        "inventory": {
            "tracking": p["inventory_tracking"],
            "quantity": p["inventory_quantity"],
            "policy": p["inventory_policy"],
            "lowStockThreshold": p["low_stock_threshold"],
        },
        "physical": {"weight": p["weight"], "dimensions": p["dimensions"]},
        "category": {"id": str(p["category_id"]), "name": p["category_name"], "path": path},
        "brand": {"id": str(p["brand_id"]), "name": p["brand_name"]} if p["brand_id"] else None,
        "vendor": {
            "id": str(p["vendor_id"]),
            "name": p["vendor_name"],
            "contact": p["vendor_contact"],
        },
        "variants": [
            {
                "id": str(v["id"]),
                "title": v["title"],
                "sku": v["sku"],
                "price": v["price"],
                "inventory": v["inventory_quantity"],
                "attributes": v["options"],
            }
            for v in variants
        ],
        "attributes": attributes,
        "images": [
            {
                "url": i["url"],
                "alt": i["alt_text"],
                "position": i["position"],
                "isPrimary": i["is_primary"],
            }
            for i in images
        ],
        "seo": {"title": p["seo_title"], "description": p["seo_description"]},
        "status": p["status"],
        "requiresShipping": p["requires_shipping"],
        "taxable": p["taxable"],
        "metadata": {"createdAt": p["created_at"], "updatedAt": p["updated_at"]},
    }


async def user_documents(
    conn: psycopg.AsyncConnection[Any], ids: Sequence[UUID]
) -> dict[UUID, dict[str, Any]]:
    users, addresses = await _fetch_all(conn, [
        ("SELECT u.*, pr.avatar_url, pr.bio, pr.preferences FROM users u"
         " LEFT JOIN user_profiles pr ON pr.tenant_id = u.tenant_id AND pr.user_id = u.id"
         " WHERE u.id = ANY(%s)", (list(ids),)),
        ("SELECT user_id, type, street_address, city, state, postal_code, country, is_default"
         " FROM user_addresses WHERE user_id = ANY(%s) ORDER BY user_id, created_at, id",
         (list(ids),)),
    ])  # fmt: skip
    by_user = _grouped(addresses, "user_id")
    return {u["id"]: _user(u, by_user.get(u["id"], [])) for u in users}


def _user(u: dict[str, Any], addresses: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "_id": str(u["id"]),
        "tenant_id": str(u["tenant_id"]),
        "email": u["email"],
        "profile": {
            "firstName": u["first_name"],
            "lastName": u["last_name"],
            "avatar": u["avatar_url"],
            "bio": u["bio"],
            "preferences": u["preferences"] or {},
            "addresses": [
                {
                    "type": a["type"],
                    "street": a["street_address"],
                    "city": a["city"],
                    "state": a["state"],
                    "postalCode": a["postal_code"],
                    "country": a["country"],
                    "isDefault": a["is_default"],
                }
                for a in addresses
            ],
        },
        "authentication": {
            "emailVerified": u["email_verified"],
            "lastLogin": u["last_login_at"],
            "loginAttempts": u["failed_login_attempts"],
        },
        "metadata": {
            "createdAt": u["created_at"],
            "updatedAt": u["updated_at"],
            "isActive": u["is_active"],
        },
    }


async def order_documents(
    conn: psycopg.AsyncConnection[Any], ids: Sequence[UUID]
) -> dict[UUID, dict[str, Any]]:
    orders, items, payments = await _fetch_all(conn, [
        ("SELECT o.*, u.email, u.first_name, u.last_name FROM orders o"
         " JOIN users u ON u.tenant_id = o.tenant_id AND u.id = o.user_id WHERE o.id = ANY(%s)",
         (list(ids),)),
        ("SELECT order_id, product_id, variant_id, name, sku, quantity, unit_price, total_price,"
         " options FROM order_items WHERE order_id = ANY(%s) ORDER BY order_id, sku, id",
         (list(ids),)),
        ("SELECT order_id, id, payment_method, payment_gateway, gateway_transaction_id, amount,"
         " refunded_amount, status, processed_at FROM payments WHERE order_id = ANY(%s)"
         " ORDER BY order_id, created_at, id", (list(ids),)),
    ])  # fmt: skip
    by_items, by_payments = _grouped(items, "order_id"), _grouped(payments, "order_id")
    return {
        o["id"]: _order(o, by_items.get(o["id"], []), by_payments.get(o["id"], [])) for o in orders
    }


def _order(
    o: dict[str, Any], items: list[dict[str, Any]], payments: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "_id": str(o["id"]),
        "tenant_id": str(o["tenant_id"]),
        "orderNumber": o["order_number"],
        "user": {
            "id": str(o["user_id"]),
            "email": o["email"],
            "name": f"{o['first_name']} {o['last_name']}",
        },
        "status": o["status"],
        "paymentStatus": o["payment_status"],
        "shippingStatus": o["shipping_status"],
        "pricing": {
            "subtotal": o["subtotal"],
            "taxAmount": o["tax_amount"],
            "shippingAmount": o["shipping_amount"],
            "discountAmount": o["discount_amount"],
            "totalAmount": o["total_amount"],
            "currency": o["currency"],
        },
        "items": [
            {
                "productId": str(i["product_id"]),
                "variantId": str(i["variant_id"]) if i["variant_id"] else None,
                "name": i["name"],
                "sku": i["sku"],
                "quantity": i["quantity"],
                "unitPrice": i["unit_price"],
                "totalPrice": i["total_price"],
                "attributes": i["options"],
            }
            for i in items
        ],
        "addresses": {"billing": o["billing_address"], "shipping": o["shipping_address"]},
        "payments": [
            {
                "id": str(p["id"]),
                "method": p["payment_method"],
                "gateway": p["payment_gateway"],
                "transactionId": p["gateway_transaction_id"],
                "amount": p["amount"],
                "refundedAmount": p["refunded_amount"],
                "status": p["status"],
                "processedAt": p["processed_at"],
            }
            for p in payments
        ],
        "shipping": {
            "method": o["shipping_method"],
            "trackingNumber": o["tracking_number"],
            "carrier": o["shipping_carrier"],
            "estimatedDelivery": o["estimated_delivery"],
            "shippedAt": o["shipped_at"],
            "deliveredAt": o["delivered_at"],
        },
        "notes": o["notes"],
        "metadata": {"createdAt": o["created_at"], "updatedAt": o["updated_at"]},
    }


def canonical(value: Any) -> Any:
    """UTC times with millisecond precision (what BSON dates keep), so every store holds the
    same document."""
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    if isinstance(value, datetime):
        value = value.astimezone(UTC)
        return value.replace(microsecond=value.microsecond // 1000 * 1000)
    return value


Builder = Callable[
    [psycopg.AsyncConnection[Any], Sequence[UUID]], Awaitable[dict[UUID, dict[str, Any]]]
]
BUILDERS: dict[str, Builder] = {
    "products": product_documents,
    "users": user_documents,
    "orders": order_documents,
}


_IDS = {"products": "SELECT id FROM products", "users": "SELECT id FROM users",
        "orders": "SELECT id FROM orders"}  # fmt: skip
# A keyset page of a collection's source ids (the uuid order is the text order of the ids in
# the C collation and in MongoDB, so the stores page in the same order).
_ID_PAGE = {c: f"{q} WHERE id > %s ORDER BY id LIMIT %s" for c, q in _IDS.items()}
_COUNT = {c: q.replace("SELECT id", "SELECT count(*)") for c, q in _IDS.items()}

# Documents per transaction in a rebuild (built by the server) and per comparison in a verify
# (built in Python): memory stays bounded whatever the shop's size.
REBUILD_CHUNK = 20_000
VERIFY_CHUNK = 5_000

Advance = Callable[[int], None]


@runtime_checkable
class _LoadsFromSelect(Protocol):
    """A store that can write the rows of a SELECT without them coming to Python (JSONB)."""

    async def insert_selected(
        self, connection: psycopg.AsyncConnection[Any], collection: str, select: str,
        params: Mapping[str, Any], version: int,
    ) -> int: ...  # fmt: skip


async def _id_page(reader: Reader, collection: str, after: UUID, size: int) -> list[UUID]:
    """The next `size` source ids of a collection after `after` (keyset order)."""
    cursor = await reader.connection.execute(_ID_PAGE[collection], (after, size))
    return [row[0] for row in await cursor.fetchall()]


def _is_uuid(text: str) -> bool:
    try:
        return str(UUID(text)) == text
    except ValueError:
        return False


class DocumentProjector:
    """Projects products, users and orders into a DocumentStore (JSONB or MongoDB)."""

    def __init__(
        self, database: Database, store: DocumentStore, *, name: str = "documents"
    ) -> None:
        self.database = database
        self.store = store
        self.name = name

    async def targets(
        self, reader: Reader, events: Sequence[OutboxEvent]
    ) -> Mapping[int, Collection[Target]]:
        found = {event.id: self._direct_targets(event) for event in events}
        orders = {e.id: UUID(e.aggregate_id) for e in events if e.aggregate_type == Aggregate.ORDER}
        if orders:
            # The products whose stock the orders moved: one statement for the whole batch.
            cursor = await reader.connection.execute(
                "SELECT DISTINCT order_id, product_id FROM order_items WHERE order_id = ANY(%s)",
                (list(set(orders.values())),),
            )
            moved: dict[UUID, set[Target]] = {}
            for order_id, product_id in await cursor.fetchall():
                moved.setdefault(order_id, set()).add(("products", str(product_id)))
            for event_id, order_id in orders.items():
                found[event_id] |= moved.get(order_id, set())
        for event in events:
            if event.aggregate_type == Aggregate.CATEGORY:  # rare: one statement each
                cursor = await reader.connection.execute(
                    f"SELECT p.id FROM products p WHERE p.category_id IN ({CATEGORY_SUBTREE})",
                    (UUID(event.aggregate_id),),
                )
                found[event.id] |= {("products", str(row[0])) for row in await cursor.fetchall()}
        return found

    @staticmethod
    def _direct_targets(event: OutboxEvent) -> set[Target]:
        kind, key = event.aggregate_type, event.aggregate_id
        if kind == Aggregate.PRODUCT:
            return {("products", str(UUID(key)))}
        if kind == Aggregate.USER:
            return {("users", str(UUID(key)))}
        if kind == Aggregate.ORDER:
            return {("orders", str(UUID(key)))}
        if kind == Aggregate.INVENTORY:
            return {("products", str(UUID(side["product_id"])))
                    for side in (event.payload["from"], event.payload["to"])}  # fmt: skip
        return set()

    async def build(
        self, reader: Reader, targets: Collection[Target], version: int
    ) -> list[DocumentChange]:
        """Every target of the batch with a fixed number of statements per collection (a product
        touched by fifty orders is built once); a target that no longer exists is a deletion."""
        wanted: dict[str, list[UUID]] = {}
        for collection, key in sorted(set(targets)):
            wanted.setdefault(collection, []).append(UUID(key))
        changes = []
        for collection, ids in wanted.items():
            built = await BUILDERS[collection](reader.connection, ids)
            for doc_id in ids:
                document = built.get(doc_id)
                changes.append(DocumentChange(
                    reader.tenant_id, collection, str(doc_id),
                    None if document is None else canonical(document), version,
                ))  # fmt: skip
        return changes

    async def apply(self, changes: Sequence[DocumentChange], checkpoint: Checkpoint | None) -> int:
        return await self.store.apply(list(changes), checkpoint)

    async def everything(self, reader: Reader) -> Collection[Target]:
        found: set[Target] = set()
        for collection in COLLECTIONS:
            cursor = await reader.connection.execute(_IDS[collection])
            found |= {(collection, str(row[0])) for row in await cursor.fetchall()}
        return found

    async def size(self, tenant_id: UUID) -> int:
        """How many documents the tenant has (for the progress of a rebuild or a verify)."""
        total = 0
        async with self.database.unit_of_work(tenant_id) as uow:
            for collection in COLLECTIONS:
                cursor = await uow.connection.execute(_COUNT[collection])
                row = await cursor.fetchone()
                total += int(row[0]) if row else 0
        return total

    async def rebuild_tenant(self, tenant_id: UUID, advance: Advance | None = None) -> int:
        """Empty the tenant's documents and build every one again, `REBUILD_CHUNK` ids per
        transaction, with the server's builders (`_document_sql`): on the JSONB store with one
        INSERT ... SELECT per chunk (the documents never leave the server), on another store
        streamed from that SELECT into `apply`."""
        database = self.database
        await self.reset(tenant_id)
        written = 0
        for collection in COLLECTIONS:
            after = UUID(int=0)
            while True:
                async with database.unit_of_work(tenant_id) as uow:
                    ids = await _id_page(uow, collection, after, REBUILD_CHUNK)
                    if not ids:
                        break
                    version = await snapshot_version(uow)
                    if isinstance(self.store, _LoadsFromSelect):
                        written += await self.store.insert_selected(
                            uow.connection, collection, SELECTS[collection], {"ids": ids}, version
                        )
                        await uow.commit()
                        changes = []
                    else:
                        cursor = await uow.connection.execute(SELECTS[collection], {"ids": ids})
                        changes = [
                            DocumentChange(tenant_id, collection, doc_id, decode(body), version)
                            for doc_id, body in await cursor.fetchall()
                        ]
                if changes:
                    written += await self.store.apply(changes, None)
                after = ids[-1]
                if advance:
                    advance(len(ids))
        return written

    async def verify_tenant(self, tenant_id: UUID, advance: Advance | None = None) -> Drift:
        """Compare the store with what the Python builders (the relay's) make from PostgreSQL
        now, `VERIFY_CHUNK` documents at a time: source ids in keyset pages, each page built
        and compared with the stored documents of those ids; then a walk over the stored ids
        finds the documents PostgreSQL no longer has. Memory: one page, whatever the size."""
        database = self.database
        drift = Drift()
        for collection in COLLECTIONS:
            after = UUID(int=0)
            while True:
                async with database.unit_of_work(tenant_id) as uow:
                    ids = await _id_page(uow, collection, after, VERIFY_CHUNK)
                    if not ids:
                        break
                    built = await BUILDERS[collection](uow.connection, ids)
                wanted = {str(i): canonical(d) for i, d in built.items()}
                stored = await self.store.get_many(tenant_id, collection, list(wanted))
                drift.checked += len(wanted)
                drift.missing += [(tenant_id, collection, i)
                                  for i in sorted(wanted.keys() - stored.keys())]  # fmt: skip
                drift.different += [(tenant_id, collection, i) for i in sorted(stored.keys())
                                    if stored[i] != wanted[i]]  # fmt: skip
                after = ids[-1]
                if advance:
                    advance(len(ids))
            last: str | None = None
            while page := await self.store.id_page(tenant_id, collection, last, VERIFY_CHUNK):
                # A stored id that is no UUID (planted, or written by hand) is extra by itself.
                keys = [i for i in page if _is_uuid(i)]
                async with database.unit_of_work(tenant_id) as uow:
                    cursor = await uow.connection.execute(
                        f"SELECT id::text FROM ({_IDS[collection]}) s WHERE id = ANY(%s::uuid[])",
                        (keys,),
                    )
                    present = {row[0] for row in await cursor.fetchall()}
                drift.extra += [(tenant_id, collection, i) for i in page if i not in present]
                last = page[-1]
        return drift

    async def reset(self, tenant_id: UUID) -> None:
        for collection in COLLECTIONS:
            await self.store.clear(tenant_id, collection)

    async def compare(self, tenant_id: UUID, expected: Sequence[DocumentChange]) -> Drift:
        drift = Drift()
        for collection in COLLECTIONS:
            wanted = {c.id: c.document for c in expected
                      if c.collection == collection and c.document is not None}  # fmt: skip
            actual = await self.store.all(tenant_id, collection)
            drift.checked += len(wanted)
            drift.missing += [
                (tenant_id, collection, i) for i in sorted(wanted.keys() - actual.keys())
            ]
            drift.extra += [
                (tenant_id, collection, i) for i in sorted(actual.keys() - wanted.keys())
            ]
            drift.different += [(tenant_id, collection, i)
                                for i in sorted(wanted.keys() & actual.keys())
                                if wanted[i] != actual[i]]  # fmt: skip
        return drift

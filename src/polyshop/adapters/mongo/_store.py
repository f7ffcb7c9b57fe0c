"""The DocumentStore port on MongoDB, with pymongo's async client.

- `_id` is `<tenant>:<id>` and every document carries `tenant_id`, so ids of two tenants never
  collide and every query is tenant-scoped; the shard key is {tenant_id: 1, _id: 1}
  (docs/scaling.md).
- Money is Decimal128, times are BSON dates (milliseconds, which is why documents are built
  with millisecond times everywhere).
- Versions: a replace only matches a stored version that is not newer; when a newer one exists,
  the upsert's insert collides on `_id` and the older build is dropped.
- A batch is written per collection with one read of the stored documents (unchanged ones are
  not written again), then one write per changed document.
- The checkpoint goes to PostgreSQL after the MongoDB writes: delivery is at least once, and
  applying the same build twice changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC
from decimal import Decimal
from typing import Any
from uuid import UUID

from bson.codec_options import CodecOptions
from bson.decimal128 import Decimal128
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient
from pymongo.errors import AutoReconnect, DuplicateKeyError, OperationFailure

from polyshop.adapters.postgres import Database, save_checkpoint
from polyshop.ports import COLLECTIONS, Checkpoint, DocumentChange

log = logging.getLogger(__name__)


# Where the server has no Decimal128 (FerretDB 1.x), money is kept exact as a marked string.
_DECIMAL_MARK = "__decimal__"


def _to_bson(value: Any, decimal128: bool = True) -> Any:
    if isinstance(value, dict):
        return {str(k): _to_bson(v, decimal128) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_bson(v, decimal128) for v in value]
    if isinstance(value, Decimal):
        return Decimal128(value) if decimal128 else {_DECIMAL_MARK: str(value)}
    if isinstance(value, UUID):
        return str(value)
    return value


def _from_bson(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and _DECIMAL_MARK in value:
            return Decimal(value[_DECIMAL_MARK])
        return {k: _from_bson(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_bson(v) for v in value]
    if isinstance(value, Decimal128):
        return value.to_decimal()
    return value


# The spec's indexes, per collection: (keys, options). Servers without a feature skip it.
INDEXES: dict[str, list[tuple[list[tuple[str, Any]], dict[str, Any]]]] = {
    "products": [
        ([("tenant_id", ASCENDING), ("slug", ASCENDING)], {"name": "tenant_slug"}),
        ([("tenant_id", ASCENDING), ("category.id", ASCENDING), ("status", ASCENDING),
          ("name", ASCENDING)], {"name": "tenant_category_status_name"}),
        ([("tenant_id", ASCENDING), ("vendor.id", ASCENDING)], {"name": "tenant_vendor"}),
        ([("name", "text"), ("description", "text"), ("shortDescription", "text")],
         {"name": "text_search", "weights": {"name": 10, "shortDescription": 5}}),
        ([("pricing.comparePrice", ASCENDING)], {"name": "on_sale_sparse", "sparse": True}),
    ],
    "users": [
        ([("tenant_id", ASCENDING), ("email", ASCENDING)], {"name": "tenant_email"}),
        ([("profile.addresses.location", "2dsphere")], {"name": "address_location_geo"}),
    ],
    "orders": [
        ([("tenant_id", ASCENDING), ("user.id", ASCENDING), ("metadata.createdAt", DESCENDING)],
         {"name": "tenant_user_created"}),
        ([("tenant_id", ASCENDING), ("status", ASCENDING), ("metadata.createdAt", DESCENDING)],
         {"name": "tenant_status_created"}),
        ([("shipping.trackingNumber", ASCENDING)], {"name": "tracking_sparse", "sparse": True}),
    ],
}  # fmt: skip

_MONEY = {"bsonType": ["decimal", "null"]}
_PRODUCT_SCHEMA = {
    "bsonType": "object",
    "required": ["tenant_id", "name", "sku", "pricing"],
    "properties": {
        "tenant_id": {"bsonType": "string"},
        "pricing": {
            "bsonType": "object",
            "required": ["price"],
            "properties": {"price": {"bsonType": "decimal"}, "comparePrice": _MONEY},
        },
    },
}
_ORDER_SCHEMA = {
    "bsonType": "object",
    "required": ["tenant_id", "orderNumber", "pricing", "items"],
    "properties": {
        "tenant_id": {"bsonType": "string"},
        "pricing": {"bsonType": "object", "properties": {"totalAmount": {"bsonType": "decimal"}}},
    },
}
VALIDATORS: dict[str, dict[str, Any]] = {
    "products": {"$jsonSchema": _PRODUCT_SCHEMA},
    "users": {
        "$jsonSchema": {
            "bsonType": "object",
            "required": ["tenant_id", "email"],
            "properties": {"tenant_id": {"bsonType": "string"}},
        }
    },
    "orders": {"$jsonSchema": _ORDER_SCHEMA},
}


class MongoDocumentStore:
    name = "mongodb"

    def __init__(self, url: str, database: Database, *, database_name: str = "polyshop") -> None:
        self._client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            url, tz_aware=True, tzinfo=UTC, serverSelectionTimeoutMS=5000
        )
        options: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=True, tzinfo=UTC)
        self._db = self._client.get_database(database_name, codec_options=options)
        self._postgres = database
        self.skipped: list[str] = []
        # Whether money goes in as Decimal128: probed by `prepare` or, in a process that did not
        # prepare (the API server, the relay worker), before its first write or query.
        self.decimal128: bool | None = None

    async def close(self) -> None:
        await self._client.close()

    async def prepare(self) -> list[str]:
        """Create the collections, validators and indexes this server supports; returns (and
        logs) what it skipped."""
        self.skipped = []
        self.decimal128 = await self._supports_decimal128()
        if not self.decimal128:
            self._skip("Decimal128 (money is stored as exact decimal strings)")
        existing = set(await self._db.list_collection_names())
        for collection in COLLECTIONS:
            if collection not in existing:
                try:
                    await self._db.create_collection(collection, validator=VALIDATORS[collection])
                except OperationFailure as exc:
                    self._skip(f"{collection}: $jsonSchema validator ({exc.code})")
                    await self._db.create_collection(collection)
            for keys, options in INDEXES[collection]:
                try:
                    await self._db[collection].create_index(keys, **options)
                except OperationFailure as exc:
                    self._skip(f"{collection}: index {options['name']} ({exc.code})")
        return self.skipped

    async def _supports_decimal128(self) -> bool:
        probe = self._db["_polyshop_probe"]
        try:
            await probe.replace_one({"_id": "decimal"}, {"value": Decimal128("1.10")}, upsert=True)
        except (OperationFailure, AutoReconnect):
            return False
        return True

    async def _money_as_decimal128(self) -> bool:
        if self.decimal128 is None:
            self.decimal128 = await self._supports_decimal128()
        return self.decimal128

    def _skip(self, what: str) -> None:
        log.warning("mongodb: the server does not support %s; skipped", what)
        self.skipped.append(what)

    async def apply(self, changes: list[DocumentChange], checkpoint: Checkpoint | None) -> int:
        """A batch per collection in two round trips: one read of what is stored, one unordered
        bulk write of what differs."""
        latest: dict[tuple[str, str], DocumentChange] = {}
        for change in changes:  # one write per document: the newest build wins
            key = (change.collection, f"{change.tenant_id}:{change.id}")
            if key not in latest or latest[key].version <= change.version:
                latest[key] = change
        by_collection: dict[str, dict[str, DocumentChange]] = {}
        for (collection, stored_id), change in latest.items():
            by_collection.setdefault(collection, {})[stored_id] = change
        applied = 0
        for collection, wanted in by_collection.items():
            applied += await self._write(self._db[collection], wanted)
        if checkpoint is not None:
            async with self._postgres.unit_of_work() as uow:
                await save_checkpoint(uow.connection, checkpoint)
                await uow.commit()
        return applied

    async def _write(self, collection: Any, wanted: dict[str, DocumentChange]) -> int:
        decimal128 = await self._money_as_decimal128()
        current = {
            stored["_id"]: stored
            async for stored in collection.find({"_id": {"$in": list(wanted)}}, {"_v": 0})
        }
        # One write after another rather than one bulk_write or concurrent writes: FerretDB's
        # bulk replies lack fields pymongo needs, and its SQLite backend refuses concurrent
        # writers. The read of what is stored is still one round trip for the batch.
        applied = 0
        for key, change in wanted.items():
            if change.document is None:
                applied += await self._delete(collection, key, change.version)
                continue
            stored = {**_to_bson(change.document, decimal128), "_id": key,
                      "tenant_id": str(change.tenant_id)}  # fmt: skip
            if current.get(key) == stored:
                continue  # the same state again: nothing to write
            applied += await self._replace(collection, key, stored, change.version)
        return applied

    @staticmethod
    async def _delete(collection: Any, key: str, version: int) -> int:
        deleted = await collection.delete_one({"_id": key, "_v": {"$lte": version}})
        return int(deleted.deleted_count)

    @staticmethod
    async def _replace(collection: Any, key: str, stored: dict[str, Any], version: int) -> int:
        try:
            result = await collection.replace_one(
                {"_id": key, "_v": {"$lte": version}}, {**stored, "_v": version}, upsert=True
            )
        except DuplicateKeyError:
            return 0  # a newer build is stored: this older one must not replace it
        return 1 if (result.modified_count or result.upserted_id is not None) else 0

    @staticmethod
    def _document(stored: dict[str, Any]) -> dict[str, Any]:
        document = _from_bson(stored)
        document.pop("_v", None)
        document["_id"] = str(document["_id"]).split(":", 1)[1]
        return document  # type: ignore[no-any-return]

    async def get(self, tenant_id: UUID, collection: str, doc_id: str) -> dict[str, Any] | None:
        stored = await self._db[collection].find_one({"_id": f"{tenant_id}:{doc_id}"})
        return self._document(stored) if stored else None

    async def find(
        self, tenant_id: UUID, collection: str, *, equals: dict[str, Any],
        sort: str | None = None, descending: bool = False, limit: int = 50,
    ) -> list[dict[str, Any]]:  # fmt: skip
        decimal128 = await self._money_as_decimal128()
        direction = DESCENDING if descending else ASCENDING
        order = [(sort, direction), ("_id", direction)] if sort else [("_id", direction)]
        cursor = (
            self._db[collection]
            .find({"tenant_id": str(tenant_id), **_to_bson(equals, decimal128)})
            .sort(order)
            .limit(limit)
        )
        return [self._document(stored) async for stored in cursor]

    async def all(self, tenant_id: UUID, collection: str) -> dict[str, dict[str, Any]]:
        cursor = self._db[collection].find({"tenant_id": str(tenant_id)})
        documents = [self._document(stored) async for stored in cursor]
        return {str(document["_id"]): document for document in documents}

    async def get_many(
        self, tenant_id: UUID, collection: str, ids: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        keys = [f"{tenant_id}:{i}" for i in ids]
        cursor = self._db[collection].find({"tenant_id": str(tenant_id), "_id": {"$in": keys}})
        documents = [self._document(stored) async for stored in cursor]
        return {str(document["_id"]): document for document in documents}

    async def id_page(
        self, tenant_id: UUID, collection: str, after: str | None, limit: int
    ) -> list[str]:
        prefix = f"{tenant_id}:"
        cursor = (
            self._db[collection]
            .find({"tenant_id": str(tenant_id), "_id": {"$gt": prefix + (after or "")}},
                  {"_id": 1})
            .sort("_id", ASCENDING)
            .limit(limit)
        )  # fmt: skip
        return [str(stored["_id"]).removeprefix(prefix) async for stored in cursor]

    async def clear(self, tenant_id: UUID, collection: str) -> None:
        await self._db[collection].delete_many({"tenant_id": str(tenant_id)})

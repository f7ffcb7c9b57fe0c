"""Ports: what the services need from the outside world, as Protocols with domain-level methods."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol, TypeVar, runtime_checkable
from uuid import UUID

import psycopg

from polyshop.domain.analytics import AnalyticsEvent, Funnel, HourlyCount, ProductRank
from polyshop.domain.recommendations import (
    Bought,
    CategoryFact,
    Interaction,
    Neighbour,
    OrderFact,
    PairDeltas,
    ProductFact,
    RecommendationKind,
    Related,
    ReviewFact,
    Signal,
    SimilarEdge,
)


class PaymentOutcome(StrEnum):
    APPROVED = "approved"
    DECLINED = "declined"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class PaymentResult:
    outcome: PaymentOutcome
    transaction_id: str | None
    response: dict[str, Any] = field(default_factory=dict)


class PaymentGateway(Protocol):
    """Charges and refunds, idempotent by our references.

    `reference` is our payment id for a charge and our refund id for a refund: the same
    reference never charges or refunds twice, and `retrieve` answers "what happened to
    reference R?" from the gateway's own record, from any process, after any crash.
    """

    name: str

    async def charge(
        self, *, reference: str, amount: Decimal, currency: str, method: str
    ) -> PaymentResult: ...

    async def retrieve(self, *, reference: str) -> PaymentResult | None:
        """The outcome recorded for a charge reference; None when the gateway never saw it."""
        ...

    async def void(self, *, reference: str) -> None:
        """Make sure the charge `reference` takes no money: cancel or reverse it if it was
        made, and refuse it if it arrives later (where the gateway allows)."""
        ...

    async def refund(
        self, *, reference: str, transaction_id: str, amount: Decimal, currency: str
    ) -> PaymentResult: ...


@dataclass(frozen=True, slots=True)
class Message:
    """An email to one person of one shop."""

    tenant_id: UUID
    to: str
    subject: str
    body: str


class Mailer(Protocol):
    """Sends email out of band (registration outcomes). Delivery is best effort: a failure is
    the adapter's to log, never the caller's to report (it would tell who has an account)."""

    async def send(self, message: Message) -> None: ...


class ProductChangeListener(Protocol):
    """Told after a commit that changed products: their page, and with `listings` also what
    listings and searches show (stock alone changes only the page)."""

    async def products_changed(
        self, tenant_id: UUID, product_ids: Collection[UUID], *, listings: bool = True
    ) -> None: ...


class NoListener:
    async def products_changed(
        self, tenant_id: UUID, product_ids: Collection[UUID], *, listings: bool = True
    ) -> None:
        return None


# The collections of the spec's document model, kept by every DocumentStore.
COLLECTIONS = ("products", "users", "orders")


@dataclass(frozen=True, slots=True)
class DocumentChange:
    """The new state of one document (None: it no longer exists), as built at `version`."""

    tenant_id: UUID
    collection: str
    id: str
    document: dict[str, Any] | None
    version: int


@dataclass(frozen=True, slots=True)
class Checkpoint:
    projector: str
    transaction_id: int
    event_id: int


class DocumentStore(Protocol):
    """Denormalised documents (the spec's MongoDB collections), derived from PostgreSQL.

    Money is Decimal and times are datetimes on the way in and out, whatever the store keeps.
    Every stored document carries `tenant_id` (set by the store to the change's tenant).
    """

    name: str

    async def apply(self, changes: list[DocumentChange], checkpoint: Checkpoint | None) -> int:
        """Write the changes (a change older than the stored document is ignored) and, where
        the store allows, the checkpoint atomically with them; returns how many changed."""
        ...

    async def get(self, tenant_id: UUID, collection: str, doc_id: str) -> dict[str, Any] | None: ...

    async def find(
        self, tenant_id: UUID, collection: str, *, equals: dict[str, Any],
        sort: str | None = None, descending: bool = False, limit: int = 50,
    ) -> list[dict[str, Any]]: ...  # fmt: skip

    async def all(self, tenant_id: UUID, collection: str) -> dict[str, dict[str, Any]]: ...

    async def get_many(
        self, tenant_id: UUID, collection: str, ids: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        """The stored documents among `ids` (absent ones are left out), by id."""
        ...

    async def id_page(
        self, tenant_id: UUID, collection: str, after: str | None, limit: int
    ) -> list[str]:
        """Up to `limit` stored ids after `after` (None: from the first), in the store's id
        order: a walk over every id with bounded memory."""
        ...

    async def clear(self, tenant_id: UUID, collection: str) -> None: ...

    async def close(self) -> None:
        """Release what the store holds (its client); the PostgreSQL pool is closed by its owner."""
        ...


class AnalyticsStore(Protocol):
    """The spec's column families (user, product, order analytics), derived from the outbox.

    `record` is idempotent by event id: the same event written twice (a replayed outbox, a
    retried batch) is counted once. Every read is per tenant and per the partitions it names.
    """

    name: str
    # Events are kept this long after they happened (older ones are neither written nor read).
    retention: timedelta

    async def record(self, events: Sequence[AnalyticsEvent]) -> None: ...

    async def user_timeline(
        self, tenant_id: UUID, user_key: str, day: date
    ) -> list[AnalyticsEvent]: ...

    async def product_hourly(
        self, tenant_id: UUID, product_id: UUID, day: date
    ) -> list[HourlyCount]: ...

    async def funnel(
        self, tenant_id: UUID, day: date, *, product_id: UUID | None = None,
        category_id: UUID | None = None,
    ) -> Funnel: ...  # fmt: skip

    async def top_products(
        self, tenant_id: UUID, day: date, *, by: str = "views", limit: int = 10
    ) -> list[ProductRank]: ...

    async def order_history(self, tenant_id: UUID, order_id: UUID) -> list[AnalyticsEvent]: ...

    def stale(self) -> bool:
        """Whether events recorded through this client are not yet in the summaries (product
        hours, top products). A store that updates them inside `record` is never stale."""
        ...

    async def flush(self) -> None:
        """Bring the summaries up to every event recorded through this client (each summary
        recomputed once, however many batches touched it); after it they are exact. Safe to
        call concurrently with other clients' `record` and `flush`."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class BulkAnalyticsStore(AnalyticsStore, Protocol):
    """An AnalyticsStore with a bulk path for rebuilds: `load` stores one shop's events without
    maintaining the summaries (rollups), `summarise` recomputes them from the stored events.
    Loading events again is harmless (keyed by event); the summaries are exact only after
    `summarise` (an interrupted rebuild is run again)."""

    async def load(self, tenant_id: UUID, events: Sequence[AnalyticsEvent]) -> None: ...

    async def load_recorded(self, tenant_id: UUID, after: int, last: int) -> int:
        """The storefront batches (`storefront.events_recorded`) among the shop's outbox rows
        with ids in (after, last], read by the store itself; returns how many events they
        hold."""
        ...

    async def summarise(self, tenant_id: UUID) -> None: ...

    async def compare_day(
        self, tenant_id: UUID, day: date, expected: Sequence[dict[str, Any]]
    ) -> Drift:
        """How the shop's stored day differs from `expected`: every event of that day, as
        `domain.analytics.to_record` records (verify keeps them on disk in that shape)."""
        ...


@runtime_checkable
class FlushingProjector(Protocol):
    """A projector that defers part of its work (coalesced over batches): the relay calls
    `flush` whenever it has caught up with the outbox."""

    async def flush(self) -> None: ...


# --- Projectors: derived stores kept in step with the outbox --------------------------------


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """One committed outbox row, as the relay hands it to projectors (the envelope)."""

    id: int
    transaction_id: int
    tenant_id: UUID
    aggregate_type: str
    aggregate_id: str
    event_type: str
    payload: dict[str, Any]
    created_at: datetime


# What a projector keeps up to date, as (kind, key): ("products", "<uuid>"), ("orders", ...).
Target = tuple[str, str]


class Reader(Protocol):
    """A transaction on the system of record, scoped to one tenant (row-level security applies).
    The unit of work is one."""

    @property
    def tenant_id(self) -> UUID: ...

    @property
    def connection(self) -> psycopg.AsyncConnection[Any]: ...


ChangeT = TypeVar("ChangeT")


class Projector(Protocol[ChangeT]):
    """Keeps one derived store in step with the outbox, after eventsourcing's
    `process_event(envelope, tracking)`: the relay reads a batch of events, asks the projector
    what they touch, has it build those targets from the current PostgreSQL state and hands it
    the changes together with the checkpoint (the tracking record) to write.

    Delivery is at least once: building from current state makes applying twice harmless.
    Each projector has its own checkpoint (by `name`), lag and parked events.
    """

    name: str

    async def targets(
        self, reader: Reader, events: Sequence[OutboxEvent]
    ) -> Mapping[int, Collection[Target]]:
        """What each event touches, by event id (an event that touches nothing may be left out).
        All events are of the reader's tenant. Raising here makes the relay ask again one event
        at a time, so one bad event cannot spoil its batch."""
        ...

    async def build(
        self, reader: Reader, targets: Collection[Target], version: int
    ) -> list[ChangeT]:
        """The new state of these targets (of the reader's tenant), read through `reader`, whose
        snapshot is `version` (newer snapshots have greater versions). Called once per batch
        and tenant with every target coalesced; on a data error the relay retries per target
        and parks what still fails."""
        ...

    async def apply(self, changes: Sequence[ChangeT], checkpoint: Checkpoint | None) -> int:
        """Write the changes of a batch and the checkpoint (atomically where the store allows);
        returns how many changed. Errors here are not the data's fault: the batch is retried."""
        ...


@dataclass
class Drift:
    """How a derived store differs from what PostgreSQL says it should hold now."""

    missing: list[tuple[UUID, str, str]] = field(default_factory=list)
    extra: list[tuple[UUID, str, str]] = field(default_factory=list)
    different: list[tuple[UUID, str, str]] = field(default_factory=list)
    checked: int = 0

    @property
    def clean(self) -> bool:
        return not (self.missing or self.extra or self.different)


@runtime_checkable
class RebuildableProjector(Projector[ChangeT], Protocol):
    """A projector whose store holds state that can be thrown away and built again from
    PostgreSQL (`polyshop sync rebuild|verify <name>`)."""

    async def everything(self, reader: Reader) -> Collection[Target]:
        """Every target the reader's tenant has now."""
        ...

    async def reset(self, tenant_id: UUID) -> None:
        """Forget everything projected for this tenant."""
        ...

    async def compare(self, tenant_id: UUID, expected: Sequence[ChangeT]) -> Drift:
        """How the stored state of the tenant differs from `expected` (builds of everything)."""
        ...


Advance = Callable[[int], None]
"""Progress of a long job: called with how many more units (outbox rows) are done."""


@runtime_checkable
class StreamingProjector(Protocol):
    """A rebuildable projector that rebuilds and verifies one tenant in bounded chunks itself,
    instead of building everything of the tenant at once (`sync rebuild|verify` prefer it)."""

    async def size(self, tenant_id: UUID) -> int:
        """About how many units `rebuild_tenant`/`verify_tenant` will report (for progress)."""
        ...

    async def rebuild_tenant(self, tenant_id: UUID, advance: Advance) -> int:
        """Project everything of the tenant again; returns how many changes were written."""
        ...

    async def verify_tenant(self, tenant_id: UUID, advance: Advance) -> Drift:
        """Compare the tenant's stored state with what PostgreSQL says, in bounded memory."""
        ...


@runtime_checkable
class BulkRebuildableProjector(Protocol):
    """A projector that rebuilds a tenant's store set-based from PostgreSQL instead of building
    every target again (`polyshop sync rebuild <name>` uses it when there is one)."""

    async def bulk_rebuild(self, tenant_id: UUID) -> int:
        """Empty the tenant's store and build it again; the number of rows written."""
        ...


# ---------------------------------------------------------------- the graph (recommendations)

GraphSnapshot = dict[str, dict[str, tuple[Any, ...]]]
"""A tenant's whole graph in one comparable shape: per label or relationship type, its key
("id" for nodes, "from>to" for relationships) and its properties."""

GRAPH_LABELS = ("Category", "Order", "Product")
"""The node labels a `GraphSnapshot` holds."""
GRAPH_RELATIONSHIPS = ("ADDED_TO_CART", "PURCHASED", "REVIEWED", "VIEWED",
                       "ALSO_BOUGHT", "FREQUENTLY_BOUGHT_WITH", "SIMILAR_TO")  # fmt: skip
"""Its relationship types: from a User (the first four) or from a Product (the others)."""

GraphPage = tuple[list[tuple[str, tuple[Any, ...]]], str | None]
"""Part of one label or type of a `GraphSnapshot`, in key order (the ids' text order), and the
position to ask for the next part from (None: nothing after it)."""

GRAPH_LISTED = ("ALSO_BOUGHT", "FREQUENTLY_BOUGHT_WITH", "SIMILAR_TO")
"""The relationship types a store may keep for-sale lists of on its products (`GraphStore.lists`)."""


def list_label(relationship: str) -> str:
    """The `snapshot_page` label of a store's for-sale lists of `relationship`: one item per
    product whose list is not empty, keyed by its id, valued (partner ids in list order, then
    their weights) as `domain.recommendations.for_sale_list` makes it."""
    return f"list:{relationship}"


class GraphWriter(Protocol):
    """One transaction of one tenant's graph (committed when the `writer` block exits cleanly).
    The projector decides what changes (`domain.recommendations`); a writer stores it. A write
    may return before the store has run it (Neo4j pipelines them): a later read in the block
    sees it, and its error is raised by a later call or when the block ends; a block that ends
    with an error or is cancelled stores nothing."""

    async def put_categories(self, facts: Sequence[CategoryFact]) -> None: ...

    async def put_products(self, facts: Sequence[ProductFact]) -> None: ...

    async def similar_sources(self, product_ids: Collection[UUID]) -> set[UUID]:
        """The products whose stored SIMILAR_TO lists any of `product_ids`."""
        ...

    async def similar_admits(self, candidates: Sequence[SimilarEdge]) -> set[UUID]:
        """Of these candidate edges P -> X, the products P whose stored SIMILAR_TO X would enter
        (`domain.recommendations.enters_top` against the stored list)."""
        ...

    async def similar_lists(self, product_ids: Collection[UUID]) -> dict[UUID, list[SimilarEdge]]:
        """The stored SIMILAR_TO of these products (an empty list for one without any)."""
        ...

    async def replace_similar(
        self, product_ids: Collection[UUID], edges: Sequence[SimilarEdge]
    ) -> None:
        """Drop the SIMILAR_TO *from* `product_ids`, then store `edges` (theirs)."""
        ...

    async def orders(self, ids: Collection[UUID]) -> dict[UUID, OrderFact]: ...

    async def put_orders(self, facts: Sequence[OrderFact]) -> None: ...

    async def purchased(self, user_ids: Collection[UUID]) -> Bought:
        """The stored PURCHASED of these customers: count and last time per product."""
        ...

    async def orders_and_purchased(
        self, ids: Collection[UUID], user_ids: Collection[UUID]
    ) -> tuple[dict[UUID, OrderFact], Bought]:
        """`orders(ids)` and `purchased(user_ids)` in one round trip where the store can (the
        projector's first read of a batch)."""
        ...

    async def bought(self, user_ids: Collection[UUID]) -> Bought:
        """What the stored counted orders say these customers bought: count and last time."""
        ...

    async def put_purchased(
        self, links: Mapping[tuple[UUID, UUID], tuple[int, datetime | None]]
    ) -> None:
        """Set these (customer, product) PURCHASED links to (count, last); a count of 0 removes
        the link."""
        ...

    async def add_pairs(self, kind: RecommendationKind, deltas: PairDeltas) -> None:
        """Add to FREQUENTLY_BOUGHT_WITH weights or ALSO_BOUGHT customer counts (0 removes),
        pair by pair in the order given (`PairDeltas`: one order for every writer)."""
        ...

    async def add_trend(self, deltas: dict[UUID, tuple[float, int]]) -> None: ...

    async def replace_reviews(
        self, product_ids: Collection[UUID], facts: Sequence[ReviewFact]
    ) -> None: ...

    async def unapplied(self, batch_ids: Collection[int]) -> set[int]:
        """Which storefront batches (outbox ids) this graph has not counted yet."""
        ...

    async def add_interactions(
        self, batch_ids: Collection[int], rows: Sequence[Interaction]
    ) -> None:
        """Count the interactions and remember the batches as applied."""
        ...


class SimilarCatalog(Protocol):
    """The catalog's similarity ranking (SQL over PostgreSQL's catalog, `adapters.postgres`;
    the reference graph of `sync verify` and the contract tests rank facts in memory)."""

    async def top_similar(self, product_ids: Collection[UUID]) -> list[SimilarEdge]:
        """Each product's best SIMILAR_K similar products for sale
        (`domain.recommendations.top_similar`); nothing for a product that no longer exists."""
        ...

    async def reaching(self, product_ids: Collection[UUID]) -> list[SimilarEdge]:
        """The edge P -> X (score and reason) for every X of `product_ids` that is for sale and
        every product P not in `product_ids` that X is similar to: the lists X may now enter."""
        ...


class GraphStore(Protocol):
    """The recommendation graph (the spec's Neo4j part), derived from PostgreSQL and the
    storefront events. Reads return only products for sale, of the given tenant."""

    name: str

    async def setup(self) -> None: ...

    def writer(
        self, tenant_id: UUID, *, fresh: bool = False
    ) -> AbstractAsyncContextManager[GraphWriter]:
        """One transaction. `fresh`: the tenant's graph was just emptied and every relationship
        written now is new (the bulk build), so an adapter may create instead of merging."""
        ...

    async def related(
        self, tenant_id: UUID, product_id: UUID, kind: RecommendationKind, limit: int
    ) -> list[Related]: ...

    async def category_of(self, tenant_id: UUID, product_id: UUID) -> tuple[UUID, str] | None: ...

    async def trending(self, tenant_id: UUID, category_id: UUID, limit: int) -> list[Related]:
        """Products of the category and its subcategories by decayed orders and interest."""
        ...

    async def signals(self, tenant_id: UUID, user_id: UUID) -> list[Signal]: ...

    async def neighbours(
        self, tenant_id: UUID, seed_ids: Collection[UUID], per_seed: int
    ) -> list[Neighbour]:
        """Each seed's strongest FREQUENTLY_BOUGHT_WITH and SIMILAR_TO neighbours for sale."""
        ...

    async def personal(
        self, tenant_id: UUID, user_id: UUID, now: datetime, limit: int, seeds: int,
        per_seed: int,
    ) -> tuple[list[Signal], list[Neighbour]]:  # fmt: skip
        """For you, scored and ranked in the store, in one round trip. The `signals` of the
        customer's `seeds` likeliest seeds (`seed_weights`'s formula with weight > 0, rounded
        the same way, ties by id), by product id. And the candidates the store ranks first,
        as one Neighbour per seed and candidate (its bought-together and similarity links
        summed): the products among each seed's `per_seed` strongest FREQUENTLY_BOUGHT_WITH
        and SIMILAR_TO neighbours for sale (what `neighbours` gives), never one the customer
        bought, scored sum of seed weight x (bought together + similarity); sent when the
        score is at least `personal_cut` of all candidates' scores for `limit`. So
        `personalise` over them gives exactly its answer over every candidate."""
        ...

    @property
    def lists(self) -> Mapping[str, int | None]:
        """The for-sale lists the store keeps on its products, which its reads trust instead of
        the relationships: relationship type (of `GRAPH_LISTED`) -> the list's length (None:
        every partner for sale). A product's list must be its relationships of the type to
        products for sale ranked by weight desc then id, the first `length` of them; `sync
        verify graph` checks that, through `snapshot_page(list_label(type))`. Empty for a
        store that ranks the relationships as it reads them (the PostgreSQL twin)."""
        ...

    async def snapshot(self, tenant_id: UUID) -> GraphSnapshot: ...

    async def snapshot_page(
        self, tenant_id: UUID, label: str, after: str | None, size: int
    ) -> GraphPage:
        """The `snapshot`'s items of one label or relationship type, in key order, from the
        position `after` (None: the first; else what the previous page returned), about `size`
        of them (an adapter may page a relationship type by whole source nodes, so one node
        with more relationships than `size` is one page). Also, for each type of `lists`, the
        label `list_label(type)`: the products' non-empty lists (a missing list and an empty
        one read alike), about `size` entries a page. `sync verify graph` walks a graph with it
        in bounded memory."""
        ...

    async def clear(self, tenant_id: UUID) -> None: ...

    async def close(self) -> None: ...

"""PostgreSQL adapter: provisioning, migrations, the connection pool and the unit of work."""

from polyshop.adapters.postgres import _tenants as tenant_sql
from polyshop.adapters.postgres._analytics import PostgresAnalyticsStore
from polyshop.adapters.postgres._bulk import BulkLoader, BulkTransaction, encode_rows
from polyshop.adapters.postgres._database import Database
from polyshop.adapters.postgres._documents import PostgresDocumentStore
from polyshop.adapters.postgres._errors import domain_errors
from polyshop.adapters.postgres._errors import translate as translate_error
from polyshop.adapters.postgres._graph import PostgresGraphStore
from polyshop.adapters.postgres._maintenance import MaintenanceReport, maintain
from polyshop.adapters.postgres._migrations import (
    current_revision,
    downgrade,
    head_revision,
    upgrade,
)
from polyshop.adapters.postgres._provision import (
    APP_ROLE,
    OWNER_ROLE,
    PLATFORM_ROLE,
    RELAY_ROLE,
    admin_url_for,
    database_name,
    drop_database,
    provision,
)
from polyshop.adapters.postgres._shared_sql import (
    CATEGORY_PATH,
    CATEGORY_SUBTREE,
    WALK_ONLY,
    fetch_all,
    save_checkpoint,
)
from polyshop.adapters.postgres._similar import PostgresSimilarCatalog
from polyshop.adapters.postgres._uow import UnitOfWork

__all__ = [
    "APP_ROLE",
    "CATEGORY_PATH",
    "CATEGORY_SUBTREE",
    "OWNER_ROLE",
    "PLATFORM_ROLE",
    "RELAY_ROLE",
    "WALK_ONLY",
    "BulkLoader",
    "BulkTransaction",
    "Database",
    "MaintenanceReport",
    "PostgresAnalyticsStore",
    "PostgresDocumentStore",
    "PostgresGraphStore",
    "PostgresSimilarCatalog",
    "UnitOfWork",
    "admin_url_for",
    "current_revision",
    "database_name",
    "domain_errors",
    "downgrade",
    "drop_database",
    "encode_rows",
    "fetch_all",
    "head_revision",
    "maintain",
    "provision",
    "save_checkpoint",
    "tenant_sql",
    "translate_error",
    "upgrade",
]

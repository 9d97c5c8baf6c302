"""Table inspection: the state of every table as decoded JSON, in place of Faust's
``/table`` pages (which answer the repr of raw bytes and list no keys).

    GET /table/                        every table, its help, the partitions open here
    GET /table/{name}/                 the table: changelog topic, each partition's owner
                                       and, on the worker that owns it, its key count
    GET /table/{name}/?partition=P     a page of keys (or ?tenant=T: the tenant's partition):
                                       &prefix= &after= &limit= (<= 1000),
                                       &values=1 for the values too; ``next`` is the
                                       ``after`` of the following page
    GET /table/{name}/{key}/           the decoded value: in partition P (?partition=),
                                       in the tenant's partition (?tenant=), else in
                                       whichever partition holds it

Our tables are keyed within the partition of the tenant that owns the state (not by a
hash of the key, as Faust's own forwarding assumes), so a request naming a tenant is
forwarded to the worker that owns the tenant (``app.gather``), and one naming a partition
or nothing is answered by every worker for the partitions it owns, and merged.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.web import Request, Response, View

from app.api import error
from app.gather import gathered
from app.web import json_response, tenant_of
from models.access.permissions import READ
from tables.store import PartitionStore

MAX_LIMIT = 1000


class TableView(View):
    """Every table view: READ on every tenant (a partition holds many tenants' state)."""

    permissions = {"GET": READ}
    every_tenant = True
    stores: dict[str, PartitionStore]

    def store(self, name: str) -> PartitionStore | None:
        return self.stores.get(name)

    def where(
        self, store: PartitionStore, request: Request, partition: int | None, errors: list[str]
    ) -> tuple[int | None, list[str]]:
        """The partition a request names: ``partition``, or the tenant's (whose owner
        ``gathered`` forwards the request to), not both."""
        tenant = tenant_of(request)
        if tenant is None:
            return partition, errors
        if partition is not None:
            return None, [*errors, "name a partition or a tenant, not both"]
        return self.app.producer.key_partition(store.topic, tenant.encode()).partition, errors


def _error(status: int, reasons: list[str]) -> Response:
    return error(status, "; ".join(reasons), errors=reasons)


def _int(query: Any, name: str, low: int, high: int, errors: list[str]) -> int | None:
    raw = query.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        errors.append(f"{name}: {raw!r} is not an integer")
        return None
    if not low <= value <= high:
        errors.append(f"{name}: must be between {low} and {high}")
        return None
    return value


class TableList(TableView):
    async def get(self, request: Request) -> Response:
        return json_response(
            [
                {
                    "name": name,
                    "help": store.table.help,
                    "partitions": {
                        str(p): store.estimated_keys(p) for p in store.open_partitions()
                    },
                }
                for name, store in sorted(self.stores.items())
            ]
        )


class TableDetail(TableView):
    async def get(self, request: Request, name: str) -> Response:
        store = self.store(name)
        if store is None:
            return _error(404, [f"no table {name!r}; tables: {', '.join(sorted(self.stores))}"])
        if "partition" in request.query or tenant_of(request):
            return await self.page(request, store)
        owners = {
            p: str(url).rstrip("/")
            for url, topics in self.app.router.table_metadata(name).items()
            for p in topics.get(store.topic, [])
        }
        here = {p: store.estimated_keys(p) for p in store.open_partitions()}
        return json_response(
            {
                "name": name,
                "help": store.table.help,
                "changelog": store.topic,
                "partitions": [
                    {"partition": p, "owner": owners.get(p), "keys": here.get(p)}
                    for p in range(self.app.conf.topic_partitions)
                ],
            }
        )

    async def page(self, request: Request, store: PartitionStore) -> Response:
        errors: list[str] = []
        q = request.query
        partition = _int(q, "partition", 0, self.app.conf.topic_partitions - 1, errors)
        limit = _int(q, "limit", 1, MAX_LIMIT, errors)
        partition, errors = self.where(store, request, partition, errors)
        if errors or partition is None:
            return _error(400, errors or ["partition: required (or a tenant)"])
        values = q.get("values") in ("1", "true")

        def local() -> list[dict[str, Any]]:
            if partition not in store.open_partitions():
                return []
            entries = store.page(partition, q.get("prefix", ""), q.get("after"), limit or 100)
            return [
                {
                    "partition": partition,
                    "keys": [k for k, _ in entries],
                    **({"values": [v for _, v in entries]} if values else {}),
                    "next": entries[-1][0] if len(entries) == (limit or 100) else None,
                }
            ]

        found = await gathered(request, local)
        if not found:
            return _error(503, [f"partition {partition}: no worker owns it now"])
        return json_response(found[0])


class TableKey(TableView):
    async def get(self, request: Request, name: str, key: str) -> Response:
        store = self.store(name)
        if store is None:
            return _error(404, [f"no table {name!r}; tables: {', '.join(sorted(self.stores))}"])
        key = key.removesuffix("/")
        errors: list[str] = []
        partition = _int(request.query, "partition", 0, self.app.conf.topic_partitions - 1, errors)
        partition, errors = self.where(store, request, partition, errors)
        if errors:
            return _error(400, errors)

        def local() -> list[dict[str, Any]]:
            where = store.open_partitions() if partition is None else [partition]
            return [
                {"table": name, "partition": p, "key": key, "value": value}
                for p in where
                if p in store.open_partitions() and (value := store.get(p, key)) is not None
            ]

        found = await gathered(request, local)
        if not found:
            return _error(404, [f"{name}: no key {key!r}"])
        return json_response(found[0] if len(found) == 1 else found)


ROUTES: dict[str, type[TableView]] = {
    "/table/": TableList,
    "/table/{name}": TableDetail,
    "/table/{name}/": TableDetail,
    "/table/{name}/{key:.+}": TableKey,
}


def register(app: faust.App, stores: list[PartitionStore]) -> None:
    """Serve the views over ``stores`` (every table of the worker)."""
    by_name = {s.table.name: s for s in stores}
    for path, view in ROUTES.items():
        app.page(path)(type(view.__name__, (view,), {"stores": by_name}))

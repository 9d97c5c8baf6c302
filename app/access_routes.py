"""What each route of the worker's web server requires: the permission its view
declares for the method (``permissions = {"GET": READ, ...}`` on the view class), and
the methods it serves at all (405 with ``Allow`` otherwise).

Faust's own pages (/table, /router, /stats, /graph, ...) declare nothing; they show
every tenant's data and need ADMIN on every tenant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faust
from aiohttp import web

from app.web import refuse
from models.access.permissions import ADMIN, PUBLIC, Permission


@dataclass(frozen=True, slots=True)
class Need:
    """What a route requires: a permission, on every tenant when the view answers about
    all of them at once (Faust's table pages, /api/v1/limits: ``every_tenant = True``
    on the view), so a credential bound to some tenants cannot use it."""

    permission: Permission
    every_tenant: bool = False


class Permissions:
    """The permission a request needs: its view's declaration for the method."""

    def __init__(self, app: faust.App, public_metrics: bool = False) -> None:
        self.app = app
        self.public_metrics = public_metrics  # AccessControl.use sets it from access:
        self._views: dict[Any, Any] = {}

    def view(self, resource: Any) -> Any:
        """The Faust view behind an aiohttp resource (found once, by its path)."""
        if resource not in self._views:
            for path, view in self.app.web.views.items():
                if resource.raw_match(path):
                    self._views[resource] = view
                    break
            else:
                self._views[resource] = None
        return self._views[resource]

    def methods(self, resource: Any) -> set[str] | None:
        """The methods the view behind ``resource`` serves (HEAD only where it serves
        GET: Faust routes HEAD on every view); None if no view is known."""
        view = self.view(resource)
        if view is None:
            return None
        return served(set(view.get_methods()))

    def need(self, resource: Any, method: str) -> Need | None:
        """What ``method`` on ``resource`` requires; None: the view declares nothing
        for it (refused)."""
        view = self.view(resource)
        if view is None:
            return None
        if type(view).__module__.startswith("faust."):
            return Need(ADMIN, every_tenant=True)  # Faust's own pages: every table
        if self.public_metrics and resource.canonical == "/metrics":
            return Need(PUBLIC)
        permission = getattr(view, "permissions", {}).get("GET" if method == "HEAD" else method)
        if permission is None:
            return None
        return Need(permission, bool(getattr(view, "every_tenant", False)))

    def table(self) -> list[tuple[str, str, Need | None, bool]]:
        """Every route the web server has, as (method, path, what it requires, whether
        the view serves the method: else 405): the router walked, for the access test
        and the docs."""
        return [
            (
                route.method,
                route.resource.canonical,
                self.need(route.resource, route.method),
                route.method in (self.methods(route.resource) or {route.method}),
            )
            for route in self.app.web.web_app.router.routes()
            if route.resource is not None
        ]


def served(methods: set[str]) -> set[str]:
    """What a route's methods really serve: HEAD only along with GET."""
    return methods if "GET" in methods else methods - {"HEAD"}


def not_allowed(method: str, allowed: set[str]) -> web.Response:
    """405 with ``Allow``: the same for every caller, asked before any credential."""
    methods = ", ".join(sorted(served(allowed)))
    return refuse(405, f"{method}: not allowed here (Allow: {methods})", Allow=methods)

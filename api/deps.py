"""Dependencies every controller may take by name: ``db`` (the session factory: open one transaction
per service call with ``unit_of_work(db)``) and ``actor`` (the calling institution, set by the guard of
:mod:`api.auth`)."""

from __future__ import annotations

from litestar import Request
from litestar.di import NamedDependency, Provide
from sqlalchemy.orm import Session, sessionmaker

from fund.services.registry import Actor

SessionFactory = sessionmaker[Session]
# Annotations of handler parameters: ``actor: Caller, db: Db``.
Caller = NamedDependency[Actor]
Db = NamedDependency[SessionFactory]


def provide_db(request: Request) -> SessionFactory:
    return request.app.state.session_factory


def provide_actor(request: Request) -> Actor:
    return request.state.actor


DEPENDENCIES = {
    "db": Provide(provide_db, sync_to_thread=False),
    "actor": Provide(provide_actor, sync_to_thread=False),
}

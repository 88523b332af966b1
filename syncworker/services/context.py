"""What every use case needs: the database, the settings, and a way to reach a tenant's external system.

Built by the composition root, `syncworker.bootstrap.build_context`, which supplies the concrete parts: the
adapters (`adapter_factory`), the OAuth2 identity service connecting uses (`identity_factory`) and the way an
APS connection is opened before it is stored (`aps_opener`). Tests pass their own."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from adapters.base import ClientSystem, IdentityProvider
from syncworker.config import Settings
from syncworker.store.db import Database
from syncworker.store.types import utcnow

if TYPE_CHECKING:
    from syncworker.services.aps_connection import ApsConnection

AdapterFactory = Callable[["ServiceContext", int, str], ClientSystem]
IdentityFactory = Callable[[Settings], IdentityProvider]
ApsOpener = Callable[["ApsConnection"], ClientSystem]


@dataclass
class ServiceContext:
    db: Database
    settings: Settings
    adapter_factory: AdapterFactory = field(default=None)  # type: ignore[assignment]
    clock: Callable[[], datetime] = utcnow  # "now" for the decisions that wait on time (a tenant parked until...)
    identity_factory: IdentityFactory = field(default=None)  # type: ignore[assignment]
    aps_opener: ApsOpener = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        # A context built directly (`ServiceContext(db, settings)`) gets the composition root's parts.
        if None in (self.adapter_factory, self.identity_factory, self.aps_opener):
            from syncworker import bootstrap

            self.adapter_factory = self.adapter_factory or bootstrap.adapter_for
            self.identity_factory = self.identity_factory or bootstrap.identity_for
            self.aps_opener = self.aps_opener or bootstrap.open_aps
        if self.settings.secret_key:
            self.db.use_secret_key(self.settings.secret_key)  # the settings' key seals tax numbers, too

    def adapter(self, tenant_id: int, system: str) -> ClientSystem:
        return self.adapter_factory(self, tenant_id, system)

    def identity(self) -> IdentityProvider:
        """The Xero platform's identity service (connecting XPM and Xero tenants)."""
        return self.identity_factory(self.settings)

    def open_aps(self, connection: ApsConnection) -> ClientSystem:
        """An APS adapter on a connection not stored yet (connecting checks its mapping against the database)."""
        return self.aps_opener(connection)

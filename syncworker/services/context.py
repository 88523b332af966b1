"""What every use case needs: the database, the settings, and a way to reach a tenant's external system.

Built by the composition root, `syncworker.bootstrap.build_context`, which supplies the real adapters (tests
pass their own `adapter_factory`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from adapters.base import ClientSystem
from syncworker.config import Settings
from syncworker.store.db import Database
from syncworker.store.types import utcnow

AdapterFactory = Callable[["ServiceContext", int, str], ClientSystem]


@dataclass
class ServiceContext:
    db: Database
    settings: Settings
    adapter_factory: AdapterFactory = field(default=None)  # type: ignore[assignment]
    clock: Callable[[], datetime] = utcnow  # "now" for the decisions that wait on time (a tenant parked until...)

    def __post_init__(self) -> None:
        if self.adapter_factory is None:  # a context built directly gets the composition root's adapters
            from syncworker.bootstrap import adapter_for

            self.adapter_factory = adapter_for

    def adapter(self, tenant_id: int, system: str) -> ClientSystem:
        return self.adapter_factory(self, tenant_id, system)

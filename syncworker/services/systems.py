"""Which external systems exist, and where a tenant's credentials for one are stored. The adapters themselves
are built by the composition root, `syncworker.bootstrap`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from syncworker.store.crypto import Cipher
from syncworker.store.tokens import DbTokenStore

if TYPE_CHECKING:
    from syncworker.services.context import ServiceContext

SYSTEMS = ("xpm", "xero", "aps")


class UnknownSystem(ValueError):
    pass


def check_system(system: str) -> str:
    if system not in SYSTEMS:
        raise UnknownSystem(f"unknown system {system!r}: expected one of {', '.join(SYSTEMS)}")
    return system


def token_store(ctx: ServiceContext, tenant_id: int, system: str) -> DbTokenStore:
    return DbTokenStore(ctx.db, Cipher(ctx.settings.secret_key), tenant_id, system)

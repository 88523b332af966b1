"""XPM adapter settings: the `.xpm` section of the settings tree (`syncworker.config.Settings.xpm`).

`config/xpm.yaml` holds the mappings, paging, timeouts and limits; the URLs and the app's credentials are the
top-level settings (settings.yaml / SYNCWORKER_XPM_URL, SYNCWORKER_XERO_*), read once by `Settings`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adapters.ratelimit import Limits
from syncworker.config import DEFAULT_API_URL, DEFAULT_IDENTITY_URL, DEFAULT_XPM_URL
from syncworker.domain.profile import ClientKind

if TYPE_CHECKING:
    from syncworker.config import Settings

__all__ = ["DEFAULT_XPM_URL", "XpmSettings"]


@dataclass(frozen=True)
class XpmSettings:
    xpm_url: str = DEFAULT_XPM_URL
    identity_url: str = DEFAULT_IDENTITY_URL
    api_url: str = DEFAULT_API_URL
    authorize_url: str = ""
    client_id: str | None = field(default=None, repr=False)
    client_secret: str | None = field(default=None, repr=False)
    business_structures: Mapping[str, ClientKind] = field(default_factory=dict)
    relationship_types: Mapping[str, str] = field(default_factory=dict)
    page_size: int = 500
    connect_timeout: float = 10.0
    read_timeout: float = 120.0
    max_retries: int = 5
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    incremental_overlap_seconds: float = 300.0
    scopes: tuple[str, ...] = ("offline_access", "practicemanager")
    limits: Limits = Limits()

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, path: Path | None = None) -> XpmSettings:
        """The `.xpm` section of the settings loaded from `env` (default: the process environment)."""
        from syncworker.config import Settings, read_yaml

        settings = Settings.load(env=env) if path is None else Settings.load(env=env, config_dir=path.parent)
        return settings.xpm if path is None else cls.from_config(read_yaml(path), settings)

    @classmethod
    def from_config(cls, raw: Mapping[str, Any], settings: Settings) -> XpmSettings:
        """Build the section from the parsed xpm.yaml and the top-level URLs and credentials."""
        from adapters.xero_identity.tokens import authorize_base_for

        http = raw.get("http") or {}
        limits = raw.get("limits") or {}
        page_size = int(raw.get("page_size", 500))
        if not 1 <= page_size <= 500:
            raise ValueError(f"page_size must be 1..500, got {page_size}")
        return cls(
            xpm_url=settings.xpm_url,
            identity_url=settings.xero_identity_url,
            api_url=settings.xero_api_url,
            authorize_url=authorize_base_for(settings.xero_identity_url, settings.xero_authorize_url),
            client_id=settings.xero_client_id,
            client_secret=settings.xero_client_secret,
            business_structures={str(k): ClientKind(v) for k, v in (raw.get("business_structures") or {}).items()},
            relationship_types={str(k): str(v) for k, v in (raw.get("relationship_types") or {}).items()},
            page_size=page_size,
            connect_timeout=float(http.get("connect_timeout", 10)),
            read_timeout=float(http.get("read_timeout", 120)),
            max_retries=int(http.get("max_retries", 5)),
            backoff_initial=float(http.get("backoff_initial", 1.0)),
            backoff_max=float(http.get("backoff_max", 60.0)),
            incremental_overlap_seconds=float(raw.get("incremental_overlap_seconds", 300)),
            scopes=tuple(raw.get("scopes") or cls.scopes),
            limits=Limits(
                concurrent=int(limits.get("concurrent", 5)),
                per_minute=int(limits.get("per_minute", 60)),
                per_day=int(limits.get("per_day", 5000)),
                write_reserve=int(limits.get("write_reserve", 500)),
            ),
        )

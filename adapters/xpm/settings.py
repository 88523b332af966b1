"""XPM adapter settings: config/xpm.yaml (mappings, paging, timeouts) plus URLs and app credentials from
the environment (SYNCWORKER_XPM_URL, SYNCWORKER_XERO_IDENTITY_URL, SYNCWORKER_XERO_API_URL,
SYNCWORKER_XERO_AUTHORIZE_URL, SYNCWORKER_XERO_CLIENT_ID, SYNCWORKER_XERO_CLIENT_SECRET)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from adapters.ratelimit import Limits
from adapters.xero_identity.tokens import DEFAULT_API_URL, DEFAULT_IDENTITY_URL, authorize_base_for
from syncworker.domain.profile import ClientKind

DEFAULT_XPM_URL = "https://api.xero.com/practicemanager/3.1/"
CONFIG_FILE = Path(os.environ.get("SYNCWORKER_CONFIG_DIR", Path(__file__).resolve().parents[2] / "config")) / "xpm.yaml"


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
        env = os.environ if env is None else env
        raw: dict[str, Any] = {}
        config_path = path or CONFIG_FILE
        if config_path.exists():
            raw = yaml.safe_load(config_path.read_text()) or {}
        http = raw.get("http") or {}
        limits = raw.get("limits") or {}
        page_size = int(raw.get("page_size", 500))
        if not 1 <= page_size <= 500:
            raise ValueError(f"config/xpm.yaml page_size must be 1..500, got {page_size}")
        identity_url = env.get("SYNCWORKER_XERO_IDENTITY_URL") or DEFAULT_IDENTITY_URL
        return cls(
            xpm_url=env.get("SYNCWORKER_XPM_URL") or DEFAULT_XPM_URL,
            identity_url=identity_url,
            api_url=env.get("SYNCWORKER_XERO_API_URL") or DEFAULT_API_URL,
            authorize_url=authorize_base_for(identity_url, env.get("SYNCWORKER_XERO_AUTHORIZE_URL")),
            client_id=env.get("SYNCWORKER_XERO_CLIENT_ID") or None,
            client_secret=env.get("SYNCWORKER_XERO_CLIENT_SECRET") or None,
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
            ),
        )

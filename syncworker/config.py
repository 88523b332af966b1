"""The settings tree: one `Settings` object, loaded once from one config folder plus the environment.

    Settings                       config/settings.yaml + environment (DATABASE_URL, SYNCWORKER_*)
      .xpm           XpmSettings   config/xpm.yaml (mappings, paging, limits) + the URLs and app credentials above
      .xero          XeroSettings  the Xero URLs and app credentials above
      .matching      MatchConfig   config/matching.yaml
      .field_rules   FieldRules    config/field_rules.yaml
      .relationships RelationshipTypes  config/relationships.yaml
      .portal        PortalConfig  config/portal.yaml (invitations, mail)

The config folder is `SYNCWORKER_CONFIG_DIR` if set, else the bundled defaults (the checkout's `config/`, which
an installed wheel carries as `syncworker/defaults/`). A file missing from an override folder is read from the
bundled defaults, so an override folder holds only what it changes. Secrets are read only from the environment.
An invalid setting stops start-up with a `ConfigError` that names the setting and where its value came from.
The default database is a SQLite file in the per-user data folder, so every working folder sees the same one.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adapters.xpm.settings import XpmSettings
    from syncworker.domain.connections import RelationshipTypes
    from syncworker.domain.sync import FieldRules
    from syncworker.matching.config import MatchConfig
    from syncworker.services.portal import PortalConfig

_PACKAGE_DIR = Path(__file__).resolve().parent
# An installed wheel carries config/ as syncworker/defaults/ (see setup.py); a checkout reads config/ itself.
BUNDLED_CONFIG_DIR = _PACKAGE_DIR / "defaults" if (_PACKAGE_DIR / "defaults").is_dir() else _PACKAGE_DIR.parent / "config"
CONFIG_FILES = ("settings.yaml", "xpm.yaml", "matching.yaml", "field_rules.yaml", "relationships.yaml", "portal.yaml",
                "aps.yaml")
DEFAULT_XPM_URL = "https://api.xero.com/practicemanager/3.1/"
DEFAULT_IDENTITY_URL = "https://identity.xero.com"
DEFAULT_AUTHORIZE_URL = "https://login.xero.com/identity/connect/authorize"
DEFAULT_API_URL = "https://api.xero.com"


def resolve_config_dir(env: Mapping[str, str] | None = None) -> Path:
    """The config folder in force: SYNCWORKER_CONFIG_DIR, else the bundled defaults."""
    env = os.environ if env is None else env
    return Path(env["SYNCWORKER_CONFIG_DIR"]) if env.get("SYNCWORKER_CONFIG_DIR") else BUNDLED_CONFIG_DIR


def config_file(name: str, folder: Path | None = None) -> Path:
    """`name` in the config folder, or the bundled default when the folder does not override it."""
    path = (folder or resolve_config_dir()) / name
    return path if path.exists() else BUNDLED_CONFIG_DIR / name


def data_dir() -> Path:
    """The per-user data folder (~/.local/share/syncworker on Linux): the same whichever folder a command runs in."""
    import platformdirs

    return Path(platformdirs.user_data_dir("syncworker", appauthor=False))


def default_database_url() -> str:
    """A SQLite file in the per-user data folder (e.g. ~/.local/share/syncworker/syncworker.db on Linux)."""
    return f"sqlite:///{data_dir() / 'syncworker.db'}"


def kept_key_file(database_url: str) -> Path | None:
    """Where a SQLite database keeps its own secret key when SYNCWORKER_SECRET_KEY is not set (`<file>.key`,
    beside it, readable by its owner only): the demo writes one, so the commands that follow it can read the
    tax numbers and credentials it stored. None for a server database (its key comes from the environment)."""
    from sqlalchemy.engine import make_url

    try:
        url = make_url(database_url)
    except Exception:  # noqa: BLE001 - an invalid URL is reported by the validation that follows
        return None
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database).with_name(Path(url.database).name + ".key")


class ConfigError(ValueError):
    """A setting is missing or invalid. The message names the setting."""


@dataclass(frozen=True)
class XeroSettings:
    """The Xero section: where Xero's identity, authorize and API endpoints are, and the app's credentials."""

    identity_url: str
    authorize_url: str
    api_url: str
    client_id: str | None = field(default=None, repr=False)
    client_secret: str | None = field(default=None, repr=False)
    webhook_key: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Settings:
    database_url: str = field(default_factory=default_database_url)
    default_country: str = "AU"
    log_level: str = "INFO"
    log_format: str = "auto"
    xpm_url: str = DEFAULT_XPM_URL
    xero_identity_url: str = DEFAULT_IDENTITY_URL
    xero_authorize_url: str = DEFAULT_AUTHORIZE_URL
    xero_api_url: str = DEFAULT_API_URL
    lock_ttl_seconds: int = 300
    schedules: Mapping[str, str] = field(default_factory=dict)
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    # Where links in emails point (the client portal's accept page): this service as the public sees it.
    public_url: str = "http://127.0.0.1:8080"
    # Secrets: environment only, never logged (repr hides them).
    secret_key: str | None = field(default=None, repr=False)
    xero_client_id: str | None = field(default=None, repr=False)
    xero_client_secret: str | None = field(default=None, repr=False)
    xero_webhook_key: str | None = field(default=None, repr=False)
    operator_token: str | None = field(default=None, repr=False)
    smtp_url: str | None = field(default=None, repr=False)  # may hold a password; None = write mail to files (services/mail.py)
    # Where the sections below are read from, and where each value above came from (for `syncworker info`).
    config_dir: Path = field(default_factory=lambda: resolve_config_dir(), compare=False)
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, config_dir: Path | None = None) -> Settings:
        """Read settings.yaml and the environment, then every section, so a bad setting anywhere stops start-up."""
        env = os.environ if env is None else env
        folder = config_dir or resolve_config_dir(env)
        path = config_file("settings.yaml", folder)
        raw = read_yaml(path)
        values: dict[str, Any] = {
            "database_url": _get(raw, "database_url"),
            "default_country": _get(raw, "default_country", "AU"),
            "log_level": _get(raw, "log.level", "INFO"),
            "log_format": _get(raw, "log.format", "auto"),
            "xpm_url": _get(raw, "xpm.url", DEFAULT_XPM_URL),
            "xero_identity_url": _get(raw, "xero.identity_url", DEFAULT_IDENTITY_URL),
            "xero_authorize_url": _get(raw, "xero.authorize_url", DEFAULT_AUTHORIZE_URL),
            "xero_api_url": _get(raw, "xero.api_url", DEFAULT_API_URL),
            "lock_ttl_seconds": _get(raw, "runs.lock_ttl_seconds", 300),
            "schedules": dict(_get(raw, "schedules", {}) or {}),
            "http_host": _get(raw, "http.host", "127.0.0.1"),
            "http_port": _get(raw, "http.port", 8080),
            "public_url": _get(raw, "http.public_url", cls.public_url),
        }
        sources = {k: str(path) for k in values}
        if not values["database_url"]:
            values["database_url"] = default_database_url()
            sources["database_url"] = "default: the per-user data folder"
        for setting, names in _ENV_OVERRIDES.items():
            for name in names:
                if env.get(name):
                    values[setting] = env[name]
                    sources[setting] = name
                    break
        for setting, name in _SECRETS.items():
            values[setting] = env.get(name) or None
            sources[setting] = name
        kept = kept_key_file(str(values["database_url"]))
        if values["secret_key"] is None and kept is not None and kept.is_file():
            values["secret_key"] = kept.read_text(encoding="ascii").strip() or None
            sources["secret_key"] = str(kept)
        for job in ("link_run", "sync"):
            name = f"SYNCWORKER_SCHEDULE_{job.upper()}"
            if name in env:
                values["schedules"][job] = env[name]
                sources[f"schedules.{job}"] = name
        settings = cls(**_validated(values, sources), config_dir=folder, sources=sources)
        settings.validate_sections()
        return settings

    def database_path_hint(self) -> str:
        return redact_url(self.database_url)

    # --- the sections, each read once (on first use) from the same config folder ---
    @functools.cached_property
    def xpm(self) -> XpmSettings:
        from adapters.xpm.settings import XpmSettings

        return self._section("xpm.yaml", lambda path: XpmSettings.from_config(read_yaml(path), self))

    @property
    def xero(self) -> XeroSettings:
        return XeroSettings(self.xero_identity_url, self.xero_authorize_url, self.xero_api_url,
                            self.xero_client_id, self.xero_client_secret, self.xero_webhook_key)

    @functools.cached_property
    def matching(self) -> MatchConfig:
        from syncworker.matching.config import MatchConfig

        return self._section("matching.yaml", MatchConfig.default)

    @functools.cached_property
    def field_rules(self) -> FieldRules:
        from syncworker.services.field_rules import load_field_rules

        return self._section("field_rules.yaml", load_field_rules)

    @functools.cached_property
    def relationships(self) -> RelationshipTypes:
        from syncworker.domain.connections import RelationshipTypes

        return self._section("relationships.yaml", lambda path: RelationshipTypes.from_mapping(read_yaml(path)))

    @functools.cached_property
    def portal(self) -> PortalConfig:
        from syncworker.services.portal import PortalConfig

        return self._section("portal.yaml", PortalConfig.load)

    def validate_sections(self) -> None:
        for name in ("xpm", "matching", "field_rules", "relationships", "portal"):
            getattr(self, name)

    def section_files(self) -> dict[str, Path]:
        """Each config file and the path it is read from (the override folder's or the bundled default)."""
        return {name: config_file(name, self.config_dir) for name in CONFIG_FILES}

    def _section(self, name: str, build: Any) -> Any:
        path = config_file(name, self.config_dir)
        try:
            return build(path)
        except ConfigError:
            raise
        except (ValueError, TypeError, KeyError) as exc:
            raise ConfigError(f"invalid setting in {path}: {exc}") from None


_ENV_OVERRIDES: dict[str, tuple[str, ...]] = {
    "database_url": ("SYNCWORKER_DATABASE_URL", "DATABASE_URL"),
    "default_country": ("SYNCWORKER_DEFAULT_COUNTRY",),
    "log_level": ("SYNCWORKER_LOG_LEVEL",),
    "log_format": ("SYNCWORKER_LOG_FORMAT",),
    "xpm_url": ("SYNCWORKER_XPM_URL",),
    "xero_identity_url": ("SYNCWORKER_XERO_IDENTITY_URL",),
    "xero_authorize_url": ("SYNCWORKER_XERO_AUTHORIZE_URL",),
    "xero_api_url": ("SYNCWORKER_XERO_API_URL",),
    "lock_ttl_seconds": ("SYNCWORKER_LOCK_TTL_SECONDS",),
    "http_host": ("SYNCWORKER_HTTP_HOST",),
    "http_port": ("SYNCWORKER_HTTP_PORT", "PORT"),
    "public_url": ("SYNCWORKER_PUBLIC_URL",),
}
_SECRETS: dict[str, str] = {
    "secret_key": "SYNCWORKER_SECRET_KEY",
    "xero_client_id": "SYNCWORKER_XERO_CLIENT_ID",
    "xero_client_secret": "SYNCWORKER_XERO_CLIENT_SECRET",
    "xero_webhook_key": "SYNCWORKER_XERO_WEBHOOK_KEY",
    "operator_token": "SYNCWORKER_OPERATOR_TOKEN",
    "smtp_url": "SYNCWORKER_SMTP_URL",
}
_LOG_LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}


def _validated(values: dict[str, Any], sources: dict[str, str]) -> dict[str, Any]:
    def fail(setting: str, why: str) -> ConfigError:
        return ConfigError(f"invalid setting {setting} (from {sources.get(setting, 'default')}): {why}")

    url = str(values["database_url"] or "")
    if not url:
        raise fail("database_url", "no database URL; set DATABASE_URL or database_url in config/settings.yaml")
    values["database_url"] = normalise_database_url(url, fail)
    values["log_level"] = str(values["log_level"]).upper()
    if values["log_level"] not in _LOG_LEVELS:
        raise fail("log_level", f"{values['log_level']!r} is not one of {sorted(_LOG_LEVELS)}")
    if values["log_format"] not in ("auto", "json", "text"):
        raise fail("log_format", f"{values['log_format']!r} is not one of auto, json, text")
    country = str(values["default_country"]).upper()
    if len(country) != 2 or not country.isalpha():
        raise fail("default_country", f"{values['default_country']!r} is not a two-letter ISO country code")
    values["default_country"] = country
    for setting in ("lock_ttl_seconds", "http_port"):
        try:
            values[setting] = int(values[setting])
        except (TypeError, ValueError):
            raise fail(setting, f"{values[setting]!r} is not a whole number") from None
        if values[setting] <= 0:
            raise fail(setting, "must be positive")
    for setting in ("xpm_url", "xero_identity_url", "xero_authorize_url", "xero_api_url", "public_url"):
        if not str(values[setting]).startswith(("http://", "https://")):
            raise fail(setting, f"{values[setting]!r} is not an http(s) URL")
    for job, expr in values["schedules"].items():
        if expr and len(str(expr).split()) != 5:
            raise fail(f"schedules.{job}", f"{expr!r} is not a 5-field cron expression")
    return values


def normalise_database_url(url: str, fail: Any = None) -> str:
    """Accept the forms hosting platforms hand out (`postgres://`, `postgresql://`) and pick psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    if not url.startswith(("sqlite:", "postgresql+psycopg:")):
        why = f"unsupported database URL scheme in {redact_url(url)!r}; use sqlite:///PATH or postgresql://…"
        raise fail("database_url", why) if fail else ConfigError(why)
    return url


# A password in the query string: ?password=..., SQL Server's odbc_connect=...PWD%3D...%3B, libpq's sslpassword.
_QUERY_SECRET = re.compile(r"(?i)((?:[?&;]|%3B)(?:ssl)?(?:password|passwd|pwd)(?:=|%3D))[^&;]*?(?=&|;|%3B|$)")


def redact_url(url: str) -> str:
    """`url` with its passwords hidden (user:password@host, and password / pwd in the query string), for
    messages, `info` and audit entries."""
    url = _QUERY_SECRET.sub(r"\1***", url)
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in creds else url
    return url


def read_yaml(path: Path) -> dict[str, Any]:
    import yaml  # here, so that importing the settings module stays cheap for `syncworker --help`

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"settings file {path} not found (set SYNCWORKER_CONFIG_DIR)") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"settings file {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"settings file {path} must hold a mapping at the top level")
    return data


def _get(raw: Mapping[str, Any], dotted: str, default: Any = None) -> Any:
    node: Any = raw
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return default
        node = node[part]
    return node


def load_yaml_config(name: str) -> dict[str, Any]:
    """Another file of the config folder (field mappings, matching thresholds...)."""
    return read_yaml(config_file(name))

from __future__ import annotations

import pytest

from syncworker.config import ConfigError, Settings


def test_defaults_load_from_config_dir() -> None:
    s = Settings.load(env={})
    assert s.database_url.startswith("sqlite:///") and s.default_country == "AU"
    assert s.schedules["sync"] == "*/15 * * * *"
    assert s.secret_key is None


@pytest.mark.parametrize("given", ["postgres://u:p@db.example:5432/app", "postgresql://u:p@db.example:5432/app"])
def test_hosting_platform_database_urls(given: str) -> None:
    s = Settings.load(env={"DATABASE_URL": given})
    assert s.database_url == "postgresql+psycopg://u:p@db.example:5432/app"


def test_syncworker_variable_wins_over_platform_variable() -> None:
    s = Settings.load(env={"DATABASE_URL": "postgres://a/b", "SYNCWORKER_DATABASE_URL": "sqlite:///x.db"})
    assert s.database_url == "sqlite:///x.db"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DATABASE_URL": "mysql://x/y"}, "database_url"),
        ({"SYNCWORKER_LOG_LEVEL": "LOUD"}, "log_level"),
        ({"SYNCWORKER_HTTP_PORT": "eighty"}, "http_port"),
        ({"SYNCWORKER_XPM_URL": "ftp://x"}, "xpm_url"),
        ({"SYNCWORKER_DEFAULT_COUNTRY": "Australia"}, "default_country"),
        ({"SYNCWORKER_SCHEDULE_SYNC": "every 15 minutes"}, "schedules.sync"),
    ],
)
def test_invalid_setting_names_itself_and_its_source(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError) as err:
        Settings.load(env=env)
    assert f"invalid setting {named}" in str(err.value)
    assert list(env)[0] in str(err.value)


def test_secrets_only_from_environment_and_never_in_repr() -> None:
    s = Settings.load(env={"SYNCWORKER_XERO_CLIENT_SECRET": "shh-very-secret", "SYNCWORKER_OPERATOR_TOKEN": "tok"})
    assert s.xero_client_secret == "shh-very-secret"
    assert "shh-very-secret" not in repr(s) and "tok" not in repr(s).replace("token", "")


def test_database_password_hidden_in_hint() -> None:
    s = Settings.load(env={"DATABASE_URL": "postgres://user:hunter2@db/app"})
    assert "hunter2" not in s.database_path_hint()


def test_default_database_is_in_the_per_user_data_folder() -> None:
    s = Settings.load(env={})
    assert s.database_url.startswith("sqlite:///") and s.database_url.endswith("/syncworker/syncworker.db")
    assert s.sources["database_url"].startswith("default")


@pytest.mark.parametrize(
    ("file", "content", "named"),
    [
        ("matching.yaml", "link_auto_threshold: 2.0\n", "link_auto_threshold"),
        ("field_rules.yaml", "systems:\n  xpm:\n    fields:\n      email: {policy: loudest}\n", "systems.xpm.fields.email"),
        ("xpm.yaml", "page_size: 5000\n", "page_size"),
        ("settings.yaml", "log:\n  level: LOUD\n", "log_level"),
    ],
)
def test_an_override_folder_is_read_and_validated_at_start(tmp_path, file: str, content: str, named: str) -> None:  # noqa: ANN001
    (tmp_path / file).write_text(content)
    with pytest.raises(ConfigError) as err:
        Settings.load(env={"SYNCWORKER_CONFIG_DIR": str(tmp_path)})
    assert named in str(err.value) and str(tmp_path / file) in str(err.value)


def test_an_override_folder_holds_only_what_it_changes(tmp_path) -> None:  # noqa: ANN001
    (tmp_path / "matching.yaml").write_text("link_auto_threshold: 0.98\n")
    s = Settings.load(env={"SYNCWORKER_CONFIG_DIR": str(tmp_path)})
    assert s.matching.link_auto_threshold == pytest.approx(0.98)
    files = s.section_files()
    assert files["matching.yaml"] == tmp_path / "matching.yaml"
    assert files["xpm.yaml"] != tmp_path / "xpm.yaml" and files["xpm.yaml"].exists()
    assert s.xpm.page_size >= 1 and s.field_rules is not None and s.relationships is not None


def test_the_xpm_section_takes_its_urls_and_credentials_from_the_one_environment_read() -> None:
    s = Settings.load(env={"SYNCWORKER_XPM_URL": "http://127.0.0.1:9/xpm/", "SYNCWORKER_XERO_CLIENT_ID": "app"})
    assert s.xpm.xpm_url == "http://127.0.0.1:9/xpm/" and s.xpm.client_id == "app"
    assert s.xero.client_id == "app"

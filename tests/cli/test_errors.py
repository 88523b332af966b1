"""Errors a command did not expect end in one line naming what is wrong, never a traceback, unless asked for
with `--debug`; a database URL's password never reaches the screen."""

from __future__ import annotations

import socket

from click.testing import CliRunner

from syncworker.cli.main import cli


def _closed_port() -> int:
    with socket.socket() as s:  # bound and closed again: nothing listens there
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_postgresql_is_one_line_with_host_and_port_and_no_password() -> None:
    port = _closed_port()
    env = {"SYNCWORKER_DATABASE_URL": f"postgresql://ops:s3cret-pw@127.0.0.1:{port}/syncworker",
           "SYNCWORKER_SECRET_KEY": ""}
    runner = CliRunner()

    result = runner.invoke(cli, ["tenants", "list"], env=env)

    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert f"cannot reach the database at 127.0.0.1:{port}" in lines[0] and "refused" in lines[0].lower()
    assert "s3cret" not in result.output and "Traceback" not in result.output

    debug = runner.invoke(cli, ["--debug", "tenants", "list"], env=env)
    assert debug.exit_code == 1 and debug.exception is not None  # the real error, for its traceback
    assert type(debug.exception).__name__ == "OperationalError"

"""Browser tests need Playwright (a dev dependency) and a Chromium on the system path (Debian's `chromium`;
browser downloads are not possible here). Without them the browser tests are skipped and the run ends with a
banner saying so, except under CI=true, where .ci/run installs Chromium and a missing one is a failure."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import IN_CI, skip_reason

NO_PLAYWRIGHT = "Playwright is not installed"
NO_CHROMIUM = "no Chromium on the system path"


def chromium_path() -> str | None:
    return os.environ.get("SYNCWORKER_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def browser_unavailable() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return f"{NO_PLAYWRIGHT} (scripts/bootstrap installs it with the dev extra)"
    if chromium_path() is None:
        return f"{NO_CHROMIUM} (Debian: apt-get install chromium; or set SYNCWORKER_CHROMIUM)"
    return None


@pytest.fixture(scope="session")
def chromium() -> str:
    reason = browser_unavailable()
    if reason:
        if IN_CI:
            pytest.fail(f"{reason}. CI requires the browser tests; .ci/run installs Chromium.", pytrace=False)
        pytest.skip(reason)
    return chromium_path()  # type: ignore[return-value]


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """Where the browser tests leave a screenshot of each page, for a reviewer to look at."""
    out = Path(os.environ.get("SYNCWORKER_TEST_OUTPUT", Path(__file__).resolve().parents[2] / "test-output")) / "console"
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    reason = skip_reason(terminalreporter, NO_PLAYWRIGHT, NO_CHROMIUM)
    if reason:
        terminalreporter.write_sep("=", "Console browser tests were SKIPPED", yellow=True, bold=True)
        terminalreporter.write_line(reason)

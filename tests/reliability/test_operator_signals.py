"""What operators read: exact metric values, timestamps in text logs, no colour codes in JSON logs, and a
redactor that hides phone and tax numbers but leaves timestamps alone."""

from __future__ import annotations

import io
import json
import logging

from syncworker.http.metrics import _family
from syncworker.logs import configure_logging, redact_text


def test_metric_values_are_exact() -> None:
    lines = _family("syncworker_last_run_timestamp_seconds", "gauge", "h", [({"tenant": "A"}, 1796590000.125),
                                                                            ({"tenant": "B"}, 42.0)])
    assert lines[2:] == ['syncworker_last_run_timestamp_seconds{tenant="A"} 1796590000.125',
                         'syncworker_last_run_timestamp_seconds{tenant="B"} 42']


def test_redactor_keeps_timestamps_and_hides_numbers_that_identify_people() -> None:
    assert redact_text("started 2026-12-07T00:37:49.900+00:00, at 2026-12-07 12:30:05") == \
        "started 2026-12-07T00:37:49.900+00:00, at 2026-12-07 12:30:05"
    assert redact_text("call 02 9876 5432 or +61 412 345 678, TFN 123 456 782") == \
        "call [NUMBER] or [NUMBER], TFN [NUMBER]"


def test_json_logs_carry_no_ansi_and_text_logs_carry_a_timestamp() -> None:
    out = io.StringIO()
    try:
        configure_logging("INFO", "json", out)
        logging.getLogger("uvicorn.error").info("Uvicorn running on \x1b[1m%s\x1b[0m", "http://127.0.0.1:8080")
        entry = json.loads(out.getvalue())
        assert entry["msg"] == "Uvicorn running on http://127.0.0.1:8080" and "\x1b" not in out.getvalue()
        text = io.StringIO()
        configure_logging("INFO", "text", text)
        logging.getLogger("syncworker.test").info("hello")
        assert text.getvalue()[:4].isdigit() and text.getvalue()[4] == "-" and "hello" in text.getvalue()
    finally:
        configure_logging("WARNING", "json", io.StringIO())

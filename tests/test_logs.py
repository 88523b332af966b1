from __future__ import annotations

import io
import json
import logging

from syncworker.logs import configure_logging, redact


def test_json_log_redacts_tokens_and_personal_data() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json", stream=stream)
    log = logging.getLogger("syncworker.test")
    log.info("refresh failed for Bearer abc.def.ghi with refresh_token=r1-secret for jane@example.com +61 412 345 678",
             extra={"email": "jane@example.com", "tenant_id": 7, "access_token": "xyz", "client_name": "Jane Citizen"})
    line = stream.getvalue().strip()
    entry = json.loads(line)
    for secret in ("abc.def.ghi", "r1-secret", "jane@example.com", "412 345 678", "xyz", "Jane Citizen"):
        assert secret not in line
    assert entry["tenant_id"] == 7 and entry["level"] == "info"


def test_redact_nested() -> None:
    out = redact({"client": {"name": "Jane", "id": "C1"}, "headers": {"Authorization": "Bearer t"}})
    assert out == {"client": {"name": "[REDACTED]", "id": "C1"}, "headers": {"Authorization": "[REDACTED]"}}


def test_a_tax_number_is_redacted_under_any_spelling_of_its_key() -> None:
    keys = ("tax_number", "TaxNumber", "taxNumber", "TFN", "tfn", "TaxFileNumber", "tax_file_number", "IRDNumber",
            "ird", "remote_tax_number")
    out = redact({"extra": {k: "876543217" for k in keys}, "tfn_count": 3, "third_party": "x"})
    assert out == {"extra": {k: "[REDACTED]" for k in keys}, "tfn_count": 3, "third_party": "x"}

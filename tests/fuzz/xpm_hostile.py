"""Hostile XPM documents for the XPM adapter: real simulator answers, mutated the way atheris mutates bytes
(flips, cuts, repeats, inserts) and the way an XPM answer goes wrong (an unknown `encoding=`, `inf` shares,
malformed UUIDs and URLs, deep nesting, entities, an ERROR envelope), each served to the real `XpmClient`
(transport, retries, envelope, streaming listing, mapping) through a requests transport adapter.

Only the adapter's error types (`adapters.errors.AdapterError`) may escape, and what is read must be storable
(JSON without NaN or infinity). Seeded and bounded in inputs and seconds; `python -m tests.fuzz.xpm_hostile
--inputs 20000 --seconds 120` runs a longer campaign and prints what escaped, by class and place.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import re
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import requests
from requests.adapters import BaseAdapter
from urllib3 import HTTPResponse

from adapters.errors import AdapterError
from adapters.ratelimit import Limits, RateLimiter
from adapters.xpm.client import XpmClient
from simulators.xpm import XpmSimulator
from syncworker.domain.profile import ClientProfile, Relationship
from syncworker.domain.serialize import profile_to_dict, relationship_to_dict

BASE = "https://xpm.fuzz/practicemanager/3.1/"

ENCODINGS = ["x-bogus", "rot13", "base64", "zlib", "hex", "uu", "utf-16", "utf-32", "cp500", "idna", "utf-7",
             "punycode", "latin-1", "ascii", "mbcs", "", "utf-8\x00"]
VALUES = ["inf", "-inf", "nan", "NaN", "1e999", "-1e999", "9" * 400, "-0", "0x1F", "1_000", "not-a-uuid",
          "{12345678-1234-5678-1234-567812345678}", "12345678123456781234567812345678", "g" * 36,
          "http://[::1", "http://[", "https://x/?pageToken=", "https://x/?pageToken=%ZZ", "%", "&#xD800;", "&#0;",
          "9999-99-99", "0000-00-00T00:00:00", "Yes", "No", "", " ", "\u202e", "x" * 5000, "ERROR", "OK",
          "&lt;Client&gt;", "\ud7ff"]
FRAGMENTS = [
    "<a>" * 3000 + "</a>" * 3000,
    '<!DOCTYPE r [<!ENTITY e "x">]>', "&e;", "<![CDATA[" + "]" * 10, "<Client><UUID>not-a-uuid</UUID></Client>",
    "<Client><Name>no id</Name></Client>", "<Status>ERROR</Status><ErrorDescription>Client not found</ErrorDescription>",
    "<Relationship><UUID>zz</UUID><NumberOfShares>inf</NumberOfShares><Percentage>nan</Percentage></Relationship>",
    "<Pagination><Links><Next>http://[bad</Next></Links></Pagination>", "<Groups><Group><UUID>1</UUID></Group></Groups>",
    "<?xml-stylesheet href='x'?>", "\x00", "\xff\xfe", "</Response>", "<Response>",
]
_TEXT = re.compile(rb">([^<>]{0,200})</(\w+)>")
# Elements the adapter converts rather than copies: half the value mutations aim at them.
_CONVERTED = re.compile(rb"<(UUID|NumberOfShares|Percentage|Next|DateOfBirth|StartDate|EndDate|IsArchived|IsDeleted|"
                        rb"Status|RelatedClientUUID)>([^<>]{0,200})</")


@dataclass
class Seed:
    kind: str  # which operation reads it
    path: str  # the call it answers (others get their unmutated seed)
    body: bytes


@dataclass
class Outcome:
    inputs: int = 0
    seconds: float = 0.0
    adapter_errors: Counter[str] = field(default_factory=Counter)
    read: int = 0  # inputs read without an error
    escaped: Counter[str] = field(default_factory=Counter)  # "<class> at <file:line> (<kind>)"


def simulator_seeds(clients: int = 12, seed: int = 5) -> tuple[list[Seed], dict[str, str]]:
    """Real answers of the XPM simulator for every read the adapter makes, and ids to ask for."""
    with XpmSimulator(clients=clients, seed=seed, minute_limit=10_000) as sim:
        http = requests.Session()
        token = http.post(f"{sim.identity_url}/connect/token", auth=(sim.client_id, sim.client_secret),
                          data={"grant_type": "refresh_token", "refresh_token": sim.issue_refresh_token()},
                          timeout=5).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}", "Xero-Tenant-Id": sim.xero_tenant_id}

        def get(path: str, expect: int = 200, **params: str) -> bytes:
            resp = http.get(sim.base_url + path, params=params, headers=headers, timeout=10)
            assert resp.status_code == expect, resp.status_code
            return resp.content

        listing = get("client.api/list", detailed="true")
        ids = re.findall(rb"<Client>\s*<UUID>([^<]+)</UUID>", listing)
        with_rel = next((i for i in ids if b"<Relationship>" in get(f"client.api/get/{i.decode()}")), ids[0]).decode()
        groups = get("clientgroup.api/list")
        group = (re.findall(rb"<UUID>([^<]+)</UUID>", groups) or [b"00000000-0000-4000-8000-000000000000"])[0].decode()
        seeds = [
            Seed("list", "client.api/list", listing),
            Seed("incremental", "client.api/list", get("client.api/list", modifiedsince="2000-01-01T00:00:00",
                                                       detailed="true")),
            Seed("paged", "client.api/paged-list", get("client.api/paged-list", pageSize="3")),
            Seed("get", f"client.api/get/{with_rel}", get(f"client.api/get/{with_rel}")),
            Seed("write", "client.api/update", get(f"client.api/get/{with_rel}")),
            Seed("search", "client.api/search", get("client.api/search", query="a")),
            Seed("groups", "clientgroup.api/list", groups),
            Seed("group", f"clientgroup.api/get/{group}", get(f"clientgroup.api/get/{group}")),
            Seed("contacts", "client.api/contacts", get("client.api/contacts", pageSize="3")),
            Seed("error", f"client.api/get/{with_rel}",
                 get("client.api/get/00000000-0000-4000-8000-000000000000", expect=404)),
        ]
    return seeds, {"client": with_rel, "group": group}


def mutate(body: bytes, rng: random.Random) -> bytes:
    """One to three mutations, byte-level or XPM-shaped."""
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(9)
        n = len(body)
        at = rng.randrange(n + 1)
        if op == 0 and n:  # flip bytes
            data = bytearray(body)
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(n)] = rng.randrange(256)
            body = bytes(data)
        elif op == 1:  # cut a range
            body = body[:at] + body[at + rng.randint(1, 400):]
        elif op == 2:  # repeat a range
            body = body[:at] + body[at:at + rng.randint(1, 400)] * rng.randint(2, 4) + body[at:]
        elif op == 3:  # an XML declaration with an encoding
            decl = f'<?xml version="1.0" encoding="{rng.choice(ENCODINGS)}"?>'.encode("utf-8", "surrogatepass")
            body = decl + re.sub(rb"^<\?xml[^>]*\?>", b"", body.lstrip())
        elif op in (4, 5, 6):  # a hostile value in an element's text (half the time one the adapter converts)
            spots = list((_CONVERTED if rng.random() < 0.5 else _TEXT).finditer(body))
            if spots:
                m = rng.choice(spots)
                group = 2 if m.re is _CONVERTED else 1
                value = rng.choice(VALUES).encode("utf-8", "surrogatepass")
                body = body[:m.start(group)] + value + body[m.end(group):]
        elif op == 7:  # a converted element with a hostile value, added to a record
            spots = [m.end() for m in re.finditer(rb"<(Relationship|Client|Group|Contact)>", body)]
            if spots:
                spot = rng.choice(spots)
                tag = rng.choice(["NumberOfShares", "Percentage", "UUID", "RelatedClientUUID", "StartDate"])
                value = rng.choice(VALUES).encode("utf-8", "surrogatepass")
                body = body[:spot] + b"<%s>%s</%s>" % (tag.encode(), value, tag.encode()) + body[spot:]
        else:  # a hostile fragment at a tag boundary
            starts = [m.start() for m in re.finditer(rb"<", body)] or [0]
            spot = rng.choice(starts)
            body = body[:spot] + rng.choice(FRAGMENTS).encode("utf-8", "surrogatepass") + body[spot:]
    return body


class Served(BaseAdapter):
    """Answers every request from `bodies` by path (the mutated one for its call), HTTP 200, as a stream."""

    def __init__(self, bodies: dict[str, bytes], fallback: bytes) -> None:
        super().__init__()
        self.bodies, self.fallback = bodies, fallback

    def send(self, request: requests.PreparedRequest, stream: bool = False, **kwargs: object) -> requests.Response:
        path = (request.path_url or "").split("?")[0].removeprefix("/practicemanager/3.1/")
        body = self.bodies.get(path, self.fallback)
        resp = requests.Response()
        resp.status_code, resp.request, resp.url = 200, request, request.url or ""
        resp.headers["Content-Type"] = "application/xml"
        resp.raw = HTTPResponse(body=io.BytesIO(body), preload_content=False, status=200)
        return resp

    def close(self) -> None:
        pass


class _Tokens:
    def access_token(self) -> str:
        return "fuzz-token"

    def force_refresh(self, rejected_access_token: str | None = None) -> str:
        return "fuzz-token"

    @property
    def remote_tenant_id(self) -> str:
        return "00000000-0000-4000-8000-00000000f022"


def _client(bodies: dict[str, bytes], fallback: bytes, *, detailed: bool = True) -> XpmClient:
    session = requests.Session()
    session.mount("https://", Served(bodies, fallback))
    unlimited = RateLimiter(Limits(per_minute=10**9, per_day=10**9), sleep=lambda s: None)
    return XpmClient(_Tokens(), base_url=BASE, session=session, max_retries=0, sleep=lambda s: None,  # type: ignore[arg-type]
                     limiter=unlimited,
                     business_structures={"Individual": "individual", "Company": "company"},
                     relationship_types={"Director": "director", "Shareholder": "shareholder"},
                     detailed_full_load=detailed, clock=lambda: datetime(2026, 12, 1, tzinfo=UTC))


def _and_back(c: XpmClient, read: list[ClientProfile]) -> list[object]:
    """What a run does next with records it read: ask for one again by its id, and for its first related
    client's relationships (an id read is an id sent)."""
    if read:
        c.get_client(read[0].id)
        related = [r.get("related_client_id") for r in read[0].extra.get("relationships", [])]
        if related and related[0]:
            c.list_relationships(related[0])
    return list(read)


def operations(ids: dict[str, str]) -> dict[str, Callable[[XpmClient], list[object]]]:
    since = datetime(2026, 11, 1, tzinfo=UTC)
    return {
        "list": lambda c: _and_back(c, [p for page in c.iter_client_pages() for p in page.items]),
        "incremental": lambda c: _and_back(c, [p for page in c.iter_client_pages(modified_since=since)
                                               for p in page.items]),
        "paged": lambda c: _and_back(c, [p for page in c.iter_client_pages() for p in page.items]),
        "get": lambda c: [c.get_client(ids["client"]), *c.list_relationships(ids["client"])],
        "write": lambda c: [c.update_client(ids["client"], {"name": "Fuzz"})],
        "search": lambda c: _and_back(c, c.search_clients("a")),
        "groups": lambda c: list(c.list_groups(members=False)),
        "group": lambda c: list(c.list_groups(members=True)),
        "contacts": lambda c: [p for page in c.iter_contact_pages() for p in page.items],
        "error": lambda c: [c.get_client(ids["client"])],
    }


def _storable(read: list[object]) -> None:
    """What the adapter gives is stored as JSON (the records cache): no NaN or infinity in it."""
    for item in read:
        if isinstance(item, ClientProfile):
            json.dumps(profile_to_dict(item), allow_nan=False, default=str)
        elif isinstance(item, Relationship):
            json.dumps(relationship_to_dict(item), allow_nan=False, default=str)


def _where(exc: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/tests/" not in f.filename]
    last = frames[-1] if frames else None
    return f"{last.filename.rsplit('/', 2)[-2]}/{last.filename.rsplit('/', 1)[-1]}:{last.lineno}" if last else "?"


def run(seeds: list[Seed], ids: dict[str, str], *, inputs: int, seconds: float, seed: int = 19,
        at_least: int = 0) -> Outcome:
    """Mutated seeds, one operation each, until `inputs` ran or `seconds` passed, but never fewer than
    `at_least` (a loaded machine slows the loop, and must not shrink what the suite checks)."""
    rng = random.Random(seed)
    ops = operations(ids)
    plain = {s.path: s.body for s in seeds if s.kind not in ("write", "error", "incremental")}
    out = Outcome()
    started = time.monotonic()
    while out.inputs < inputs and (out.inputs < at_least or time.monotonic() - started < seconds):
        target = seeds[out.inputs % len(seeds)]
        body = mutate(target.body, rng)
        client = _client(plain | {target.path: body}, body, detailed=target.kind != "paged")
        out.inputs += 1
        try:
            _storable(ops[target.kind](client))
            out.read += 1
        except AdapterError as exc:
            out.adapter_errors[type(exc).__name__] += 1
        except Exception as exc:  # what the test counts: anything else escaped the adapter
            out.escaped[f"{type(exc).__name__} at {_where(exc)} ({target.kind})"] += 1
    out.seconds = time.monotonic() - started
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=19)
    args = parser.parse_args()
    seeds, ids = simulator_seeds()
    out = run(seeds, ids, inputs=args.inputs, seconds=args.seconds, seed=args.seed)
    print(f"inputs {out.inputs} in {out.seconds:.1f} s: read {out.read}, adapter errors "
          f"{sum(out.adapter_errors.values())} {dict(out.adapter_errors)}, escaped {sum(out.escaped.values())}")
    for where, n in out.escaped.most_common():
        print(f"  {n:6d}  {where}")


if __name__ == "__main__":
    main()

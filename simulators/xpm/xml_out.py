"""XPM v3.1 XML responses, shaped like the official examples (docs copy of
developer.xero.com/documentation/api/practice-manager-3-1/clients and /client-groups).

Quirks reproduced on purpose, because a client must cope with them:
- The envelope is `<Response><Status>OK</Status>…`; errors are `<Status>ERROR</Status><ErrorDescription>`.
- Collections are always wrapped (`<Clients><Client>`), even with one element; empty ones are `<Contacts />`.
- Booleans are `Yes`/`No`; empty fields are empty elements (`<Fax />`).
- `TaxNumber` is masked except for its last 3 characters (`******123`).
- `Website` on read (the write name is `WebSite`).
- Multi-line `Address`/`PostalAddress` text is indented, with leading whitespace and newlines.
- `DateOfBirth` is `1970-11-26T00:00:00` in list/paged-list but `1970-11-26` in search and get.
- `get/{uuid}` puts `<WebUrl>` beside `<Client>`, in the Response.
- `paged-list` leaves out contacts, notes, groups, relationships and the business number.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from xml.sax.saxutils import escape

from simulators.xpm.store import PracticeStore, SimClient, SimContact, SimGroup, SimRelationship


@dataclass(frozen=True, slots=True)
class ClientView:
    """Which parts of a client record an endpoint shows."""

    contacts: bool = True
    detailed: bool = False  # notes, groups, relationships
    business_number: bool = True
    date_with_time: bool = True


LIST_VIEW = ClientView()
DETAILED_LIST_VIEW = ClientView(detailed=True)
PAGED_VIEW = ClientView(contacts=False, business_number=False)
SEARCH_VIEW = ClientView(date_with_time=False)
DETAILED_SEARCH_VIEW = ClientView(detailed=True, date_with_time=False)
GET_VIEW = ClientView(detailed=True, date_with_time=False)

_HEAD_FIELDS = ("Title", "Gender", "FirstName", "MiddleName", "LastName", "OtherName", "Email")
_ADDRESS_FIELDS = (
    "Address", "City", "Region", "PostCode", "Country",
    "PostalAddress", "PostalCity", "PostalRegion", "PostalPostCode", "PostalCountry", "Phone", "Fax",
)
_TAX_FIELDS_AFTER_NUMBER = (
    "BusinessStructure", "BalanceMonth", "PrepareGST", "GSTRegistered", "GSTPeriod", "GSTBasis",
    "ProvisionalTaxBasis", "ProvisionalTaxRatio",
)
_AU_FIELDS = ("PrepareActivityStatement", "PrepareTaxReturn")
_NZ_FIELDS = ("SignedTaxAuthority", "TaxAgent", "AgencyStatus", "ReturnType")


def yes_no(value: bool) -> str:
    return "Yes" if value else "No"


def el(tag: str, value: object | None) -> str:
    if value is None or value == "":
        return f"<{tag} />"
    return f"<{tag}>{escape(str(value))}</{tag}>"


def mask_tax_number(value: str | None) -> str | None:
    if not value:
        return None
    digits = value.replace(" ", "")
    return "*" * max(len(digits) - 3, 0) + digits[-3:]


def _multiline(text: str, indent: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if len(lines) <= 1:
        return escape(lines[0]) if lines else ""
    inner = "".join(f"\n{indent}  {escape(ln)}" for ln in lines)
    return f"{inner}\n{indent}"


def envelope(*parts: str) -> bytes:
    return ("<Response>\n  <Status>OK</Status>\n" + "".join(parts) + "</Response>\n").encode("utf-8")


def error_envelope(description: str) -> bytes:
    return (
        "<Response>\n  <Status>ERROR</Status>\n"
        f"  <ErrorDescription>{escape(description)}</ErrorDescription>\n</Response>\n"
    ).encode()


def _ref(tag: str, uuid: str | None, name: str | None, ind: str) -> str:
    if not uuid:
        return f"{ind}<{tag} />\n"
    return f"{ind}<{tag}>\n{ind}  {el('UUID', uuid)}\n{ind}  {el('Name', name)}\n{ind}</{tag}>\n"


def render_client(store: PracticeStore, c: SimClient, view: ClientView, country: str, ind: str = "      ") -> str:
    f = c.fields
    out: list[str] = [f"{ind[:-2]}<Client>\n"]
    add = out.append
    add(f"{ind}{el('UUID', c.uuid)}\n{ind}{el('Name', c.name)}\n")
    for tag in _HEAD_FIELDS:
        add(f"{ind}{el(tag, f.get(tag))}\n")
    dob = f.get("DateOfBirth")
    add(f"{ind}{el('DateOfBirth', (dob + 'T00:00:00') if dob and view.date_with_time else dob)}\n")
    for tag in _ADDRESS_FIELDS:
        value = f.get(tag)
        if tag in ("Address", "PostalAddress") and value:
            add(f"{ind}<{tag}>{_multiline(value, ind)}</{tag}>\n")
        else:
            add(f"{ind}{el(tag, value)}\n")
    add(f"{ind}{el('Website', f.get('WebSite'))}\n")
    add(f"{ind}{el('ReferralSource', f.get('ReferralSource'))}\n{ind}{el('ExportCode', f.get('ExportCode'))}\n")
    add(f"{ind}{el('IsProspect', f.get('IsProspect') or 'No')}\n")
    add(f"{ind}{el('IsArchived', yes_no(c.is_archived))}\n{ind}{el('IsDeleted', yes_no(c.is_deleted))}\n")
    am = c.account_manager
    add(_ref("AccountManager", am.uuid if am else None, am.name if am else None, ind))
    if c.type:
        t = c.type
        add(
            f"{ind}<Type>\n{ind}  {el('Name', t.name)}\n{ind}  {el('CostMarkup', t.cost_markup)}\n"
            f"{ind}  {el('PaymentTerm', t.payment_term)}\n{ind}  {el('PaymentDay', t.payment_day)}\n{ind}</Type>\n"
        )
    if view.contacts:
        add(render_client_contacts(store, c, ind))
    if view.detailed:
        add(_render_notes(c, ind))
    billing = store.clients.get(c.billing_client_uuid) if c.billing_client_uuid else None
    add(_ref("BillingClient", billing.uuid if billing else None, billing.name if billing else None, ind))
    jm = c.job_manager
    add(_ref("JobManager", jm.uuid if jm else None, jm.name if jm else None, ind))
    add(f"{ind}{el('TaxNumber', mask_tax_number(f.get('TaxNumber')))}\n{ind}{el('CompanyNumber', f.get('CompanyNumber'))}\n")
    if view.business_number:
        add(f"{ind}{el('BusinessNumber', f.get('BusinessNumber'))}\n")
    for tag in _TAX_FIELDS_AFTER_NUMBER + (_NZ_FIELDS if country == "NZ" else _AU_FIELDS):
        add(f"{ind}{el(tag, f.get(tag))}\n")
    add(f"{ind}{el('ClientCode', f.get('ClientCode'))}\n")
    if view.detailed:
        add(_render_groups(store, c, ind))
        add(_render_relationships(store, c, ind))
    add(f"{ind[:-2]}</Client>\n")
    return "".join(out)


def render_clients(store: PracticeStore, clients: Iterable[SimClient], view: ClientView, country: str) -> str:
    body = "".join(render_client(store, c, view, country) for c in clients)
    return f"  <Clients>\n{body}  </Clients>\n" if body else "  <Clients />\n"


def render_contact(contact: SimContact, ind: str, *, is_primary: bool | None = None, position: str | None = None,
                   linked: bool = False) -> str:
    parts = [
        f"{ind}<Contact>\n",
        *(f"{ind}  {el(tag, value)}\n" for tag, value in (
            ("UUID", contact.uuid), ("Name", contact.name), ("Salutation", contact.salutation),
            ("Addressee", contact.addressee), ("Mobile", contact.mobile), ("Email", contact.email),
            ("Phone", contact.phone), ("IsDeleted", yes_no(contact.is_deleted)),
        )),
    ]
    if linked and not contact.is_deleted:
        parts.append(f"{ind}  {el('IsPrimary', yes_no(bool(is_primary)))}\n{ind}  {el('Position', position)}\n")
    parts.append(f"{ind}</Contact>\n")
    return "".join(parts)


def render_client_contacts(store: PracticeStore, c: SimClient, ind: str) -> str:
    items = [
        render_contact(store.contacts[lk.contact_uuid], ind + "  ", is_primary=lk.is_primary, position=lk.position, linked=True)
        for lk in c.contacts if lk.contact_uuid in store.contacts and not store.contacts[lk.contact_uuid].is_deleted
    ]
    return f"{ind}<Contacts>\n{''.join(items)}{ind}</Contacts>\n" if items else f"{ind}<Contacts />\n"


def render_contacts(contacts: Iterable[SimContact]) -> str:
    body = "".join(render_contact(c, "    ") for c in contacts)
    return f"  <Contacts>\n{body}  </Contacts>\n" if body else "  <Contacts />\n"


def _render_notes(c: SimClient, ind: str) -> str:
    if not c.notes:
        return f"{ind}<Notes />\n"
    items = "".join(
        f"{ind}  <Note>\n{ind}    {el('Title', n.title)}\n{ind}    {el('Text', n.text)}\n{ind}    {el('Folder', n.folder)}\n"
        f"{ind}    {el('Date', n.date.strftime('%Y-%m-%dT%H:%M:%S'))}\n{ind}    {el('CreatedBy', n.created_by)}\n{ind}  </Note>\n"
        for n in c.notes
    )
    return f"{ind}<Notes>\n{items}{ind}</Notes>\n"


def _render_groups(store: PracticeStore, c: SimClient, ind: str) -> str:
    groups = store.groups_of(c.uuid)
    if not groups:
        return f"{ind}<Groups />\n"
    items = "".join(f"{ind}  <Group>\n{ind}    {el('UUID', g.uuid)}\n{ind}    {el('Name', g.name)}\n{ind}  </Group>\n" for g in groups)
    return f"{ind}<Groups>\n{items}{ind}</Groups>\n"


def render_relationship(store: PracticeStore, r: SimRelationship, ind: str) -> str:
    related = store.clients.get(r.related_uuid)
    return (
        f"{ind}<Relationship>\n{ind}  {el('UUID', r.uuid)}\n{ind}  {el('Type', r.type)}\n"
        + _ref("RelatedClient", r.related_uuid, related.name if related else None, ind + "  ")
        + f"{ind}  {el('NumberOfShares', r.number_of_shares)}\n"
        + f"{ind}  {el('Percentage', _fmt_pct(r.percentage))}\n"
        + f"{ind}  {el('StartDate', r.start_date.isoformat() if r.start_date else None)}\n"
        + f"{ind}  {el('EndDate', r.end_date.isoformat() if r.end_date else None)}\n{ind}</Relationship>\n"
    )


def _fmt_pct(value: float | None) -> str | None:
    if value is None:
        return None
    return str(int(value)) if float(value).is_integer() else str(value)


def _render_relationships(store: PracticeStore, c: SimClient, ind: str) -> str:
    rels = store.relationships_of(c.uuid)
    if not rels:
        return f"{ind}<Relationships />\n"
    return f"{ind}<Relationships>\n{''.join(render_relationship(store, r, ind + '  ') for r in rels)}{ind}</Relationships>\n"


def render_group(store: PracticeStore, g: SimGroup, *, members: bool, ind: str = "      ") -> str:
    out = f"{ind[:-2]}<Group>\n{ind}{el('UUID', g.uuid)}\n{ind}{el('Name', g.name)}\n{ind}{el('Taxable', yes_no(g.taxable))}\n"
    if members:
        items = "".join(
            f"{ind}  <Client>\n{ind}    {el('UUID', m)}\n{ind}    {el('Name', store.clients[m].name)}\n{ind}  </Client>\n"
            for m in g.members if m in store.clients
        )
        out += f"{ind}<Clients>\n{items}{ind}</Clients>\n" if items else f"{ind}<Clients />\n"
    return out + f"{ind[:-2]}</Group>\n"


def render_pagination(first: str, next_url: str | None) -> str:
    nxt = f"      {el('Next', next_url)}\n" if next_url else ""
    return f"  <Pagination>\n    <Links>\n      {el('First', first)}\n{nxt}    </Links>\n  </Pagination>\n"

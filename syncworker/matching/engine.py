"""The two entry points: link two lists one-to-one, and find duplicates within one list."""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable, Collection, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import numpy as np

from .blocking import dedupe_candidates, link_candidates
from .clusters import build_clusters
from .compare import LINK, NONE, REVIEW, Comparison, compare, personal_agreement, settle_relatives
from .config import MatchConfig
from .csvio import paused_gc
from .explain import reasons_for_many
from .features import Table
from .frequencies import namesakes_apart_and_linked, own_domain_agrees
from .households import fields_corrupted, find_households
from .model import estimate_model, estimate_prior, probability, refine_m
from .normalise_cache import clear_caches
from .tables import Records, build_dedupe_table, build_link_tables


@dataclass(slots=True)
class MatchCandidate:
    local_id: str
    remote_id: str
    score: float
    decision: Literal["link", "review"]
    reasons: list[str]
    runner_up_score: float | None = None
    weight: float = 0.0  # match weight: log2 of the odds that the pair is one client (score = 2^w / (1 + 2^w))
    runner_up_id: str | None = None  # the competing record (remote or local) of the best other pair


@dataclass(slots=True)
class DuplicatePair:
    id_a: str
    id_b: str
    score: float
    decision: Literal["duplicate", "review"]
    reasons: list[str]
    weight: float = 0.0  # match weight in bits (log2 odds), see MatchCandidate.weight


@dataclass(slots=True)
class Cluster:
    cluster_id: str
    member_ids: tuple[str, ...]
    score: float
    reasons: list[str]


class LinkColumns(NamedTuple):
    """A link run's decisions column by column, in MatchCandidate's field order: one entry per
    assigned local record, in the order of the local ids (`MatchCandidate(*row)` of each row). A tuple
    of eight columns: `len()` of it is 8, the number of decisions is `len(columns.local_ids)`."""

    local_ids: list[str]
    remote_ids: list[str]
    scores: list[float]
    decisions: list[Literal["link", "review"]]
    reasons: list[list[str]]
    runner_up_scores: list[float | None]
    weights: list[float]
    runner_up_ids: list[str | None]


@dataclass(slots=True)
class LinkResult:
    candidates: list[MatchCandidate] = field(default_factory=list)
    candidate_pairs: int = 0  # the pairs blocking put side by side (each one compared and scored)


@dataclass(slots=True)
class DuplicateResult:
    pairs: list[DuplicatePair] = field(default_factory=list)
    clusters: list[Cluster] = field(default_factory=list)
    candidate_pairs: int = 0  # the pairs blocking put side by side (each one compared and scored)

    def cluster_of(self, record_id: str) -> Cluster | None:
        for cluster in self.clusters:
            if record_id in cluster.member_ids:
                return cluster
        return None


@dataclass(slots=True)
class ScoredPairs:
    comparison: Comparison
    log2_odds: np.ndarray
    score: np.ndarray
    # (i, j) -> whether remote records i and j are certainly one client, scored like the pairs above
    same_remote_client: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
    # per pair of people: 1 a personal identifier agrees and none differs, -1 one differs, 0 neither
    personal: np.ndarray | None = None
    # the two lists, for rules that look at other records of a list (a namesake linked elsewhere)
    tables: tuple[Table, Table] | None = None


def personal_evidence(left, right, comparison: Comparison) -> np.ndarray:
    """Per pair: 1 where something only this person has agrees (whole or masked tax number, own
    e-mail, mobile, birth date) and nothing of the kind differs, -1 where one differs, 0 otherwise or
    for organisations (whose role addresses differ within one organisation). An own e-mail that
    differs is as often an outdated one: the same mobile or whole tax number outweighs it."""
    i, j, lv = comparison.left, comparison.right, comparison.levels
    personal, own, mobile = personal_agreement(left, right, i, j, lv["tax"], lv["email"])
    agree = personal | (lv["dob"] == 1)
    old_email = (lv["email"] == 3) & own & (mobile != 1) & (lv["tax"] != 1)
    clash = (lv["tax"] == 3) | (mobile == 2) | (lv["dob"] == 3) | old_email
    people = left.is_person[i] & right.is_person[j]
    return np.where(people & clash, -1, np.where(people & agree, 1, 0)).astype(np.int8)


def score_links(local: Records, remote: Records, config: MatchConfig):
    left, right = build_link_tables(local, remote, config)  # its Vocab and memos are freed on return
    clear_caches()
    li, ri = link_candidates(left, right, config.max_block_pairs)
    homes_l, homes_r = find_households(left), find_households(right)
    strict = max(homes_l.rate, homes_r.rate) >= config.household_rate_strict
    model = estimate_model(left, right, config, same=False)
    comparison = compare(left, right, li, ri, config.workers, strict, defer_relatives=True)
    pos = np.flatnonzero(comparison.relatives)
    context = homes_l.has_relative[comparison.left[pos]] | homes_r.has_relative[comparison.right[pos]]
    settle_relatives(comparison, context, fields_corrupted(comparison.levels))
    model = refine_m(model, comparison, config, NONE)
    evidence = model.total(comparison) - comparison.penalty
    prior = estimate_prior(evidence, config)
    log2_odds = evidence + prior

    def same_remote_client(i: np.ndarray, j: np.ndarray) -> np.ndarray:
        between = compare(right, right, i, j, config.workers, strict)
        odds = model.total(between) - between.penalty + prior
        sure = (between.cap == LINK) & (probability(odds) >= config.link_auto_threshold)
        return sure & (personal_evidence(right, right, between) >= 0)  # not two mobiles, tax numbers, ...

    return left, right, ScoredPairs(comparison, log2_odds, probability(log2_odds), same_remote_client,
                                    personal_evidence(left, right, comparison),
                                    (left, right))


class _Groups:
    """The pairs grouped by one of their records (the local or the remote one), each group strongest
    first (of equal weights, the pair that comes first), sorted once: deciding asks for the best pair
    of each group, or each pair's best competitor in its group, a dozen times, among the pairs allowed
    to compete each time (a sort per question cost most of deciding the links)."""

    def __init__(self, record: np.ndarray, weight: np.ndarray, strongest_first: np.ndarray) -> None:
        n = len(record)
        self.weight = weight
        # `strongest_first`: all pairs by weight, of equal weights in pair order (a sort both sides share),
        # here grouped by record in that order: the record and the place in `strongest_first` packed in
        # one integer, and a plain sort of those (a stable argsort of the records took four times as long).
        grouped = record[strongest_first].astype(np.int64)
        bits = max(n - 1, 1).bit_length()
        if n == 0 or (int(grouped.min()) >= 0 and int(grouped.max()).bit_length() + bits <= 63):
            grouped <<= bits
            grouped |= np.arange(n)
            grouped.sort()
            self.order = strongest_first[grouped & ((1 << bits) - 1)]
            grouped >>= bits
        else:  # records and places too large to pack in 63 bits (no run comes near): the stable sort
            by_record = np.argsort(grouped, kind="stable")
            self.order, grouped = strongest_first[by_record], grouped[by_record]
        self.rank = np.empty(n, dtype=np.int64)  # where each pair stands in `order`
        self.rank[self.order] = np.arange(n)
        self.starts, self.of = _runs(grouped)

    def _first_two(self, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Per group, where in `order` its best and its second best allowed pair stand (None: every
        pair is allowed); len(order) when it has none."""
        n = len(self.order)
        if allowed is None:
            ends = np.r_[self.starts[1:], n]
            return self.starts, np.where(self.starts + 1 < ends, self.starts + 1, n)
        ok = allowed[self.order]
        seen = np.cumsum(ok)  # allowed pairs up to each place; less those before the group: its nth
        nth = np.where(ok, seen - (seen[self.starts] - ok[self.starts])[self.of], 0)
        first, second = np.full(len(self.starts), n), np.full(len(self.starts), n)
        at = np.flatnonzero(nth == 1)
        first[self.of[at]] = at
        at = np.flatnonzero(nth == 2)
        second[self.of[at]] = at
        return first, second

    def best(self, allowed: np.ndarray) -> np.ndarray:
        """The best allowed pair of each group that has one."""
        first, _ = self._first_two(allowed)
        return self.order[first[first < len(self.order)]]

    def best_other(self, allowed: np.ndarray | None, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each pair at `positions`: the best weight among the *other* allowed pairs of its group
        (None: all pairs), and which pair that is; -inf and -1 when there is none."""
        first, second = self._first_two(allowed)
        at = self.rank[positions]
        group = self.of[at]
        other = np.where(first[group] == at, second[group], first[group])
        found = other < len(self.order)
        other = self.order[np.where(found, other, 0)]
        return np.where(found, self.weight[other], -np.inf), np.where(found, other, -1)


def _runs(sorted_group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each run of equal values starts, and each element's run."""
    starts = np.flatnonzero(np.r_[True, sorted_group[1:] != sorted_group[:-1]])
    return starts, np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(sorted_group)]))


class _Contest:
    """The pairs that may be decided (no rule rules them out), by their position in `eligible`: their
    records, weights and scores, and their groups by local and by remote record, built once for every
    "best competing pair" question of deciding."""

    def __init__(self, pairs: ScoredPairs, eligible: np.ndarray) -> None:
        comp = pairs.comparison
        self.eligible = eligible
        self.left, self.right = comp.left[eligible], comp.right[eligible]
        self.w, self.score = pairs.log2_odds[eligible], pairs.score[eligible]
        strongest_first = np.argsort(-self.w, kind="stable")
        self.by_left = _Groups(self.left, self.w, strongest_first)
        self.by_right = _Groups(self.right, self.w, strongest_first)
        tables = pairs.tables
        self.records = (len(tables[0]), len(tables[1])) if tables is not None else (
            int(comp.left.max()) + 1, int(comp.right.max()) + 1)

    def best_other_either(self, allowed: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """_Groups.best_other over both records of each pair at `positions`: the best weight among the
        other allowed pairs of its left or of its right record, and which pair that is (the left's on a
        tie; -1 when none)."""
        by_l, by_l_at = self.by_left.best_other(allowed, positions)
        by_r, by_r_at = self.by_right.best_other(allowed, positions)
        best = np.maximum(by_l, by_r)
        return best, np.where(np.isfinite(best), np.where(by_l >= by_r, by_l_at, by_r_at), -1)

    def linked(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Which local and which remote records the pairs at `positions` link, as masks over each list."""
        linked_l = np.zeros(self.records[0], dtype=bool)
        linked_r = np.zeros(self.records[1], dtype=bool)
        linked_l[self.left[positions]] = True
        linked_r[self.right[positions]] = True
        return linked_l, linked_r


class LinkDecisions(NamedTuple):
    """One decision per assigned local record, as columns."""

    pos: np.ndarray  # pair position
    link: np.ndarray  # decided "link" (else "review")
    runner_bits: np.ndarray  # log2 odds of the best competing pair, -inf when none
    runner_pos: np.ndarray  # its pair position, -1 when none
    twin: np.ndarray  # the competitor is a second certain remote match (the remote list holds the client twice)
    margin_bits: np.ndarray  # log2 odds ahead of the competitor (inf when none)
    born_that_day: np.ndarray  # the competitor shares the birth date this pair disagrees on
    elsewhere_pos: np.ndarray  # linked only as its competitor (this pair position) is linked elsewhere; -1 if not

    @classmethod
    def none(cls) -> LinkDecisions:
        at, no, bits = np.empty(0, dtype=np.int64), np.empty(0, dtype=bool), np.empty(0)
        return cls(at, no, bits, at, no, bits, no, at)

    def take(self, order: np.ndarray) -> LinkDecisions:
        return LinkDecisions(*(column[order] for column in self))


def decide_links(pairs: ScoredPairs, config: MatchConfig) -> LinkDecisions:
    """One-to-one assignment, one decision per assigned local.

    A pair auto-links when it is certain (no rule caps it, score at the auto threshold) and beats the
    best competing pair of either record by the runner-up margin, with two exceptions:
    - a local record with two remote candidates that are each certain (by the runner-up margin beyond
      the auto threshold), and certainly one client when compared with each other, is a client the
      remote list holds twice: which of its records the client keeps is the operator's call there (the other is
      merged away or archived later, and a link to it breaks), so neither links automatically,
      however far one outscores the other;
    - a remote record with two local candidates that are each certain is a client the local list holds
      twice: either link is that client, so the better links and the margin is not asked against the
      other (the duplicate is for `dedupe`; a link run flags it "merge required" before matching).

    Then two passes free certain pairs that only competitors accounted for hold back, in this order and
    once each (no further rounds):
    1. namesakes (`_namesakes_accounted_for`): a pair held only by a rule for a namesake or relative
       nearby, where each is linked to someone else and shown to be another person;
    2. competitors linked elsewhere (`_ahead_of_unlinked` with `personal`): a pair that a personal
       identifier (people) or an identifier of its own (organisations: ABN, phone, own e-mail domain)
       backs, held only by competitors whose other record is linked to someone else.
    Links made by pass 1 count as "linked elsewhere" in pass 2, not the reverse, and a pair freed in
    pass 2 frees no other: deterministic, but the order matters (a review may remain that another
    round would free; a reviewer settles it). A link from pass 1 carries `namesake=linked_elsewhere`,
    one from pass 2 `competitor=linked_elsewhere:<the competitor's record>`."""
    comp = pairs.comparison
    eligible = np.flatnonzero(comp.cap >= REVIEW)
    if len(eligible) == 0:
        return LinkDecisions.none()
    contest = _Contest(pairs, eligible)
    left, right, w = contest.left, contest.right, contest.w
    certain = (comp.cap[eligible] == LINK) & (contest.score >= config.link_auto_threshold)
    plausible = contest.score >= config.link_review_threshold
    chosen = _greedy_one_to_one(contest, plausible)
    # Decided for all chosen pairs at once: per-pair NumPy scalar calls cost ~0.3 s at 100k.
    sure = certain[chosen]
    by_remote, remote_at = contest.by_left.best_other(None, chosen)  # the best other remote record of its local
    by_local, local_at = contest.by_right.best_other(None, chosen)  # and local record of its remote
    # "Certain" for calling a record a twin asks the runner-up margin beyond the auto threshold: a
    # competitor just over the threshold is as likely a near-namesake as the same client again.
    twin_bits = float(np.log2(config.link_auto_threshold / (1 - config.link_auto_threshold))) + config.runner_up_margin_bits
    very_sure = certain & (w >= twin_bits)
    twin = sure & (remote_at >= 0) & very_sure[np.maximum(remote_at, 0)]
    if pairs.same_remote_client is not None and twin.any():  # and the two remote records are one client
        at = np.flatnonzero(twin)
        twin[at] = pairs.same_remote_client(right[chosen[at]], right[remote_at[at]])
    local_twin = sure & (local_at >= 0) & certain[np.maximum(local_at, 0)]
    by_local[local_twin] = -np.inf
    personal = pairs.personal[eligible] if pairs.personal is not None else None
    if personal is not None:
        # A competitor that a personal identifier rules out (another tax number, mobile or own e-mail)
        # does not compete with a pair that one agrees on and none rules out: a namesake nearby with
        # a score as certain is another person, not a reason to ask.
        vouched = np.flatnonzero(personal[chosen] > 0)
        at = chosen[vouched]
        cl, cl_at = contest.by_left.best_other(personal >= 0, at)
        cr, cr_at = contest.by_right.best_other(personal >= 0, at)
        by_remote[vouched] = np.where(twin[vouched], by_remote[vouched], cl)
        remote_at[vouched] = np.where(twin[vouched], remote_at[vouched], cl_at)
        by_local[vouched] = np.where(local_twin[vouched], -np.inf, cr)
        local_at[vouched] = np.where(local_twin[vouched], local_at[vouched], cr_at)
    best_other = np.where(twin, by_remote, np.maximum(by_remote, by_local))
    other_at = np.where(twin | (by_remote >= by_local), remote_at, local_at)
    # A birth date that differs, where a competing candidate was born on that very day: the fields
    # this pair agrees on are as often a household's (its e-mail, landline, address) as one person's,
    # and a father and son of one name differ by that date alone. Never a link; the competitor is named.
    rival = _born_that_day(contest, comp.levels["dob"][eligible], plausible, chosen)
    born = rival >= 0
    best_other[born] = w[rival[born]]
    other_at[born] = rival[born]
    other_pos = np.where((other_at >= 0) & np.isfinite(best_other), eligible[np.maximum(other_at, 0)], -1)
    margin = w[chosen] - best_other
    auto = sure & (margin >= config.runner_up_margin_bits) & ~twin & ~born
    elsewhere = np.full(len(chosen), -1, dtype=np.int64)
    linked = contest.linked(chosen[auto])  # the records linked so far (the passes below add theirs)
    if pairs.tables is not None:  # pass 1 (see the docstring)
        freed, f_other, f_at = _namesakes_accounted_for(pairs, contest, chosen, auto, linked, config)
        auto[freed] = True
        linked[0][left[chosen[freed]]] = True
        linked[1][right[chosen[freed]]] = True
        best_other[freed], margin[freed] = f_other, w[chosen[freed]] - f_other
        other_pos[freed] = np.where(f_at >= 0, eligible[np.maximum(f_at, 0)], -1)
    if personal is not None:  # pass 2
        # A pair vouched for by a personal identifier, held only by competitors whose other record is
        # linked to someone else (or that a personal identifier rules out): those are accounted for.
        # So for organisations backed by an identifier of their own (an ABN, phone or own e-mail
        # domain that agrees): the same-named or one slip apart organisation ("Harrison Fitnes
        # Services" beside "Harrison Fitness Services") has its own match, and the certain pair is
        # what remains, as a reviewer would conclude. Not on the name (and an area) alone: the
        # organisation meant may be missing from the other list, and what remains another of that name.
        vouched = personal[chosen] > 0
        if pairs.tables is not None:
            orgs = np.flatnonzero(~pairs.tables[0].is_person[left[chosen]] & ~pairs.tables[1].is_person[right[chosen]])
            vouched[orgs] = _org_backed(pairs, eligible[chosen[orgs]])
        vouched = np.flatnonzero(sure & ~auto & ~twin & ~born & vouched)
        ahead, f_other, f_at = _ahead_of_unlinked(contest, linked, chosen[vouched], config, personal)
        freed = vouched[ahead]
        auto[freed] = True
        elsewhere[freed] = other_pos[freed]  # the competitor that held it, before the next best replaces it
        best_other[freed], margin[freed] = f_other, w[chosen[freed]] - f_other
        other_pos[freed] = np.where(f_at >= 0, eligible[np.maximum(f_at, 0)], -1)
    return LinkDecisions(eligible[chosen], auto, best_other, other_pos, twin, margin, born, elsewhere)


def _org_backed(pairs: ScoredPairs, pos: np.ndarray) -> np.ndarray:
    """Per organisation pair at `pos`: an identifier of its own agrees (business number, phone, or
    the organisation's own e-mail domain), not only its name and address."""
    assert pairs.tables is not None
    comp, (table_l, table_r) = pairs.comparison, pairs.tables
    lv = comp.levels
    return ((lv["bizno"][pos] == 1) | (lv["phone"][pos] == 1)
            | own_domain_agrees(table_l, table_r, comp.left[pos], comp.right[pos]))


def _namesakes_accounted_for(pairs: ScoredPairs, contest: _Contest, chosen: np.ndarray, auto: np.ndarray,
                             linked: tuple[np.ndarray, np.ndarray],
                             config: MatchConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chosen pairs held for review only because a namesake lives nearby (a father and son of one
    name, without birth dates; for given names one slip apart, a relative of that initial: Brett /
    Brent), where every one of them, in either list, is linked automatically to someone else (`linked`)
    and is evidently another person than the pair's record of that list (not that record entered
    twice): they are accounted for, and the pair is what remains, as a reviewer would conclude. Such a
    pair links when it is certain and ahead of its competitors by the runner-up margin, not counting
    competitors whose other record is linked elsewhere. Returns the positions in `chosen` to link, their
    best remaining competitor's weight and its position."""
    assert pairs.tables is not None
    held = pairs.comparison.namesake_held[contest.eligible[chosen]]
    at = np.flatnonzero((held > 0) & ~auto & (contest.score[chosen] >= config.link_auto_threshold))
    none = np.empty(0, dtype=np.int64)
    if len(at) == 0:
        return none, np.empty(0), none
    pos = chosen[at]
    ok = np.ones(len(at), dtype=bool)
    for table, records, linked_there in zip(pairs.tables, (contest.left[pos], contest.right[pos]), linked,
                                            strict=True):
        for bit, by in ((1, "given"), (2, "initial")):
            check = np.flatnonzero((held[at] & bit) > 0)
            ok[check] &= namesakes_apart_and_linked(table, records[check], linked_there, by)
    at = at[ok]
    ahead, best, best_at = _ahead_of_unlinked(contest, linked, chosen[at], config)
    return at[ahead], best, best_at


def _ahead_of_unlinked(contest: _Contest, linked: tuple[np.ndarray, np.ndarray], pos: np.ndarray,
                       config: MatchConfig,
                       personal: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which pairs at `pos` are ahead by the runner-up margin of every competing pair whose other
    record is not `linked` to someone else (given `personal`, per pair, nor ruled out by a personal
    identifier); for those, that best competitor's weight and position."""
    if len(pos) == 0:
        return np.zeros(0, dtype=bool), np.empty(0), np.empty(0, dtype=np.int64)
    out = linked[0][contest.left] | linked[1][contest.right]
    if personal is not None:
        out |= personal < 0
    best, best_at = contest.best_other_either(~out, pos)
    ahead = contest.w[pos] - best >= config.runner_up_margin_bits
    return ahead, best[ahead], best_at[ahead]


def _born_that_day(contest: _Contest, dob: np.ndarray, plausible: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """Per chosen pair whose birth dates both exist and differ (`dob` level 3): the strongest other pair
    of either of its records whose birth dates agree and that is itself a candidate (`plausible`), -1
    when none."""
    out = np.full(len(chosen), -1, dtype=np.int64)
    differs = np.flatnonzero(dob[chosen] == 3)
    if len(differs) == 0:
        return out
    out[differs] = contest.best_other_either((dob == 1) & plausible, chosen[differs])[1]
    return out


def _greedy_one_to_one(contest: _Contest, candidates: np.ndarray) -> np.ndarray:
    """Strongest pairs first among the `candidates` (a mask), each record used once: in rounds, accept
    every pair that is the best remaining pair of both its records (the same result as a global greedy
    pass, vectorised; of equal weights the first pair wins, on both sides, so a mutual best exists)."""
    accepted: list[np.ndarray] = []
    remaining = candidates.copy()
    while remaining.any():
        mutual = np.intersect1d(contest.by_left.best(remaining), contest.by_right.best(remaining), assume_unique=True)
        if len(mutual) == 0:
            break
        accepted.append(mutual)
        taken_l, taken_r = contest.linked(mutual)
        remaining &= ~taken_l[contest.left] & ~taken_r[contest.right]
    return np.concatenate(accepted) if accepted else np.empty(0, dtype=np.int64)


@contextmanager
def _bulk_allocation():
    """Pause the cyclic garbage collector while millions of short-lived objects are built.

    The engine creates no reference cycles, and with large lists alive every collection pass walks
    them all: at 100k records per side this alone cost a fifth of the run time.
    """
    with paused_gc():  # (which also spares the collection its re-enabling would start)
        try:
            yield
        finally:
            clear_caches()  # a long-running worker should not keep one run's names in memory
            return_freed_memory()


def return_freed_memory() -> None:
    """Give the C heap's free pages back to the OS. glibc keeps them after a large run (measured: 100k
    records per side left 360–475 MB resident where 250 MB were live, 280 MB after this), so a
    long-running worker would otherwise carry one run's peak into every later run."""
    trim = getattr(_LIBC, "malloc_trim", None)
    if trim is not None:
        trim(0)


try:
    _LIBC: ctypes.CDLL | None = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
except OSError:  # not glibc-like: nothing to trim
    _LIBC = None


def match_records(
    local: Records, remote: Records, config: MatchConfig | None = None,
    *, merge_required: Collection[str] = (), local_names: Mapping[str, str] | None = None,
) -> list[MatchCandidate]:
    """Best remote candidate for each local record (one-to-one), with a link/review decision.

    `merge_required`: local ids in an unresolved duplicate cluster; they are never auto-linked
    (their candidate, if any, is a review with the reason `merge_required`).
    `local_names`: local id -> the name a competing LOCAL record goes by in `runner_up_id` and in the
    reasons (`competing:`, `competitor=linked_elsewhere:`), where the ids matched on are not the ones a
    reader knows (the link run's `client:<pk>`); remote records are always named by their own ids.
    """
    return link_records(local, remote, config, merge_required=merge_required, local_names=local_names).candidates


def link_records(
    local: Records, remote: Records, config: MatchConfig | None = None,
    *, merge_required: Collection[str] = (), local_names: Mapping[str, str] | None = None,
) -> LinkResult:
    """`match_records`, with what the run counted: how many candidate pairs blocking put side by side."""
    with _bulk_allocation():
        columns, candidate_pairs = _link_columns(local, remote, config or MatchConfig.default(),
                                                 frozenset(merge_required), local_names)
        return LinkResult(list(map(MatchCandidate, *columns)), candidate_pairs)


def link_columns(
    local: Records, remote: Records, config: MatchConfig | None = None,
    *, merge_required: Collection[str] = (),
) -> tuple[LinkColumns, int]:
    """`link_records` as columns, without an object per candidate (for writing them out as they are),
    and the candidate pairs blocking put side by side."""
    with _bulk_allocation():
        return _link_columns(local, remote, config or MatchConfig.default(), frozenset(merge_required))


def _link_columns(
    local: Records, remote: Records, config: MatchConfig,
    merge_required: frozenset[str], local_names: Mapping[str, str] | None = None,
) -> tuple[LinkColumns, int]:
    if not local or not remote:
        return LinkColumns([], [], [], [], [], [], [], []), 0
    left, right, pairs = score_links(local, remote, config)
    comp = pairs.comparison
    decided = decide_links(pairs, config)
    # Column by column, in the order of the local ids (stable: as assigned where an id repeats); only
    # the few pairs whose reasons say more than their fields are gone through one by one.
    local_ids = list(map(left.ids.__getitem__, comp.left[decided.pos].tolist()))
    order = sorted(range(len(local_ids)), key=local_ids.__getitem__)
    local_ids = list(map(local_ids.__getitem__, order))
    decided = decided.take(np.asarray(order, dtype=np.int64))
    pos = decided.pos
    remote_ids = list(map(right.ids.__getitem__, comp.right[pos].tolist()))
    # A competing local record by the name its reader knows it by (the caller's), a remote one by its id.
    rivals_left = left.ids if local_names is None else [local_names.get(i, i) for i in left.ids]
    runner_ids = _competitors(comp, rivals_left, right.ids, pos, decided.runner_pos)
    runner_scores = [None if none else r for r, none in zip(
        probability(decided.runner_bits).tolist(), np.isinf(decided.runner_bits).tolist(), strict=True)]
    scores = [round(s, 6) for s in pairs.score[pos].tolist()]
    decisions = ["link" if a else "review" for a in decided.link.tolist()]
    all_reasons = reasons_for_many(comp, pos)
    capped = comp.cap[pos] < LINK
    for k in np.flatnonzero(~decided.link | capped | (decided.elsewhere_pos >= 0)).tolist():
        p, reasons = int(pos[k]), all_reasons[k]
        if not decided.link[k]:
            reasons.append("held_back_by=" + _held_back_by(
                comp.cap_reason(p) if capped[k] else None, float(pairs.score[p]), config.link_auto_threshold, runner_ids[k],
                runner_scores[k], float(decided.margin_bits[k]), config.runner_up_margin_bits,
                bool(decided.twin[k]), bool(decided.born_that_day[k])))
        elif capped[k]:  # a link the rule held back: its namesake is linked elsewhere
            held = comp.cap_reason(p)
            all_reasons[k] = [r for r in reasons if r != held] + ["namesake=linked_elsewhere"]
        else:  # a link its competitor held back: that record is linked elsewhere
            competitor = _competitors(comp, rivals_left, right.ids, pos[k:k + 1], decided.elsewhere_pos[k:k + 1])[0]
            reasons.append(f"competitor=linked_elsewhere:{competitor}")
    if merge_required:
        for k, local_id in enumerate(local_ids):
            if local_id in merge_required:
                decisions[k] = "review"
                all_reasons[k].append("merge_required")
    weights = [round(w, 2) for w in pairs.log2_odds[pos].tolist()]
    return LinkColumns(local_ids, remote_ids, scores, decisions, all_reasons, runner_scores, weights,
                       runner_ids), len(comp.left)


def _competitors(comp: Comparison, left_ids: list[str], right_ids: list[str], pos: np.ndarray,
                 other: np.ndarray) -> list[str | None]:
    """Per pair at `pos`: the record competing for its own, the other side of the competing pair at
    `other` (None where `other` is -1)."""
    at = np.maximum(other, 0)
    same_local = comp.left[at] == comp.left[pos]
    record = np.where(same_local, comp.right[at], comp.left[at])
    return [None if o < 0 else (right_ids[r] if same else left_ids[r])
            for o, same, r in zip(other.tolist(), same_local.tolist(), record.tolist(), strict=True)]


def _held_back_by(rule: str | None, score: float, threshold: float, runner_id: str | None,
                  runner_score: float | None, margin: float, margin_needed: float,
                  twin: bool, born_that_day: bool) -> str:
    """The one thing that kept a pair from being decided automatically, named for a reviewer."""
    if rule:
        return f"rule:{rule}"
    if born_that_day and runner_id is not None:
        return f"competing:{runner_id} (score {runner_score:.3f}, born on the date this pair disagrees on)"
    if twin and runner_id is not None:
        return f"competing:{runner_id} (score {runner_score:.3f}, also a certain match: the remote list holds this client twice)"
    if runner_id is not None and margin < margin_needed:
        return f"competing:{runner_id} (score {runner_score:.3f}, {margin:.1f} of {margin_needed:.0f} bits ahead)"
    return f"score {score:.6f} < {threshold}"


def find_duplicates(records: Records, config: MatchConfig | None = None) -> DuplicateResult:
    """Duplicate pairs within one list, grouped into guarded clusters."""
    with _bulk_allocation():
        return _find_duplicates(records, config or MatchConfig.default())


def _find_duplicates(records: Records, config: MatchConfig) -> DuplicateResult:
    if len(records) < 2:
        return DuplicateResult()
    table = build_dedupe_table(records, config)
    clear_caches()
    li, ri = dedupe_candidates(table, config.max_block_pairs)
    homes = find_households(table)
    strict = homes.rate >= config.household_rate_strict
    model = estimate_model(table, table, config, same=True)

    def compare_settled(i: np.ndarray, j: np.ndarray, corrupted: bool | None = None) -> tuple[Comparison, bool]:
        comparison = compare(table, table, i, j, config.workers, strict, defer_relatives=True)
        if corrupted is None:
            corrupted = fields_corrupted(comparison.levels)
        pos = np.flatnonzero(comparison.relatives)
        context = np.fromiter((homes.shared_relative(int(x), int(y)) for x, y in zip(i[pos], j[pos], strict=True)),
                              dtype=bool, count=len(pos))
        settle_relatives(comparison, context, corrupted)
        return comparison, corrupted

    comparison, corrupted = compare_settled(li, ri)
    model = refine_m(model, comparison, config, NONE)
    evidence = model.total(comparison) - comparison.penalty
    prior = estimate_prior(evidence, config)
    log2_odds = evidence + prior
    score = probability(log2_odds)
    keep = np.flatnonzero((comparison.cap >= REVIEW) & (score >= config.duplicate_review_threshold))
    is_dup = (comparison.cap[keep] == LINK) & (score[keep] >= config.duplicate_threshold)

    def compare_extra(i: np.ndarray, j: np.ndarray) -> tuple[Comparison, np.ndarray]:
        extra, _ = compare_settled(i, j, corrupted)
        return extra, model.total(extra) - extra.penalty + prior

    def score_extra(i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        extra, odds = compare_extra(i, j)
        return probability(odds), extra.cap

    clusters, split = build_clusters(
        len(table), li[keep], ri[keep], score[keep], is_dup, score_extra, config.cluster_min_average
    )
    cluster_of = np.full(len(table), -1, dtype=np.int64)
    for number, (members, _) in enumerate(clusters):
        cluster_of[members] = number
    ka, kb = li[keep], ri[keep]
    same_cluster = (cluster_of[ka] == cluster_of[kb]) & (cluster_of[ka] >= 0)
    # A pair inside a cluster is a duplicate like the cluster, unless a rule holds it for review.
    capped = comparison.cap[keep] < LINK
    joined = same_cluster & ~is_dup & ~capped
    duplicate = (is_dup & ~split) | joined
    cluster_a = cluster_of[ka]
    joins = np.where(cluster_a >= 0, cluster_a, cluster_of[kb])  # the cluster a split-off pair joins
    scores = score[keep].tolist()
    all_reasons = reasons_for_many(comparison, keep)
    # Column by column; one by one only the pairs whose reasons say more than their fields (a NumPy
    # scalar per value and pair cost more than half a second at 100k records).
    more = np.flatnonzero(split | joined | ~duplicate)
    for k, cut, join, cluster, other, rule, cap in zip(
            more.tolist(), split[more].tolist(), joined[more].tolist(), cluster_a[more].tolist(),
            joins[more].tolist(), comparison.cap_reasons(keep[more]), capped[more].tolist(), strict=True):
        if cut:
            all_reasons[k].append("held_back_by=cluster_guard:split" + (f" (joins c{other + 1})" if other >= 0 else ""))
        elif join:
            all_reasons[k].append(f"cluster=c{cluster + 1}")
        else:  # not a duplicate
            rule = rule if cap else None
            all_reasons[k].append("held_back_by=" + (
                f"rule:{rule}" if rule else f"score {scores[k]:.6f} < {config.duplicate_threshold}"))
    ids = table.ids
    pairs = list(map(DuplicatePair, map(ids.__getitem__, ka.tolist()), map(ids.__getitem__, kb.tolist()),
                     [round(s, 6) for s in scores], np.where(duplicate, "duplicate", "review").tolist(),
                     all_reasons, [round(w, 2) for w in log2_odds[keep].tolist()]))
    pairs.extend(_pairs_implied_by_clusters(table.ids, clusters, ka, kb, compare_extra,
                                            config.duplicate_review_threshold))
    out_clusters = [
        Cluster(f"c{n + 1}", tuple(sorted(table.ids[m] for m in members)), round(min_score, 6),
                [f"members={len(members)}", f"min_pair_score={min_score:.3f}"])
        for n, (members, min_score) in enumerate(clusters)
    ]
    return DuplicateResult(pairs, out_clusters, len(li))


IMPLIED_PAIRS_MAX_CLUSTER = 50  # larger clusters list only the pairs compared directly


def _pairs_implied_by_clusters(ids, clusters, ka: np.ndarray, kb: np.ndarray, compare_extra,
                               review_floor: float) -> list[DuplicatePair]:
    """The member pairs of each cluster that no candidate pair listed (blocking never put them side by
    side, or they scored low on their own): duplicates by the cluster, each scored on its own too, and
    held for review where a rule objects or where on their own they score below `review_floor`.
    Linear in the pairs listed."""
    n = len(ids)
    listed = set((np.minimum(ka, kb) * n + np.maximum(ka, kb)).tolist())
    ia, ib, number = [], [], []
    for c, (members, _) in enumerate(clusters):
        if len(members) > IMPLIED_PAIRS_MAX_CLUSTER:
            continue
        for x in range(len(members)):
            for y in range(x + 1, len(members)):
                if members[x] * n + members[y] not in listed:
                    ia.append(members[x])
                    ib.append(members[y])
                    number.append(c)
    if not ia:
        return []
    i, j = np.asarray(ia, dtype=np.int64), np.asarray(ib, dtype=np.int64)
    extra, odds = compare_extra(i, j)
    scores = probability(odds)
    out = []
    for k, reasons in enumerate(reasons_for_many(extra, np.arange(len(i)))):
        rule = extra.cap_reason(k) if extra.cap[k] < LINK else None
        reasons.append(f"cluster=c{number[k] + 1}")
        if rule:
            reasons.append(f"held_back_by=rule:{rule}")
        elif scores[k] < review_floor:  # alike through the cluster only, not on their own
            reasons.append(f"held_back_by=score {float(scores[k]):.6f} < {review_floor}")
        decision = "review" if rule or scores[k] < review_floor else "duplicate"
        out.append(DuplicatePair(ids[ia[k]], ids[ib[k]], round(float(scores[k]), 6), decision,
                                 reasons, round(float(odds[k]), 2)))
    return out

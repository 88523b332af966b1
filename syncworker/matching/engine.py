"""The two entry points: link two lists one-to-one, and find duplicates within one list."""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable, Collection
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


def _best_other(group: np.ndarray, weight: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each pair, the best weight among the *other* pairs of its group (-inf when none), and
    which pair that is (-1 when none); of equal weights, the pair that comes first.

    Each group's best and second best by maxima over its run of pairs, after one stable sort by
    group (none when the groups come sorted, as the left side does): a sort by weight within the
    groups cost half of deciding the links."""
    n = len(group)
    if n == 0:
        return np.empty(0), np.empty(0, dtype=np.int64)
    order = np.argsort(group, kind="stable")  # keeps each group's pairs in their order: ties go to the first
    w = weight[order]
    starts, of = _runs(group[order])
    best_at = _first_best(w, starts, of)
    rest = w.copy()
    rest[best_at] = -np.inf
    is_best = np.arange(n) == best_at[of]
    second_at = _first_best(rest, starts, of, ~is_best)
    second_at = np.where(second_at < n, second_at, -1)
    other_sorted = np.where(is_best, np.where(second_at >= 0, w[second_at], -np.inf)[of], w[best_at][of])
    other_at_sorted = np.where(is_best, np.where(second_at >= 0, order[second_at], -1)[of], order[best_at][of])
    other = np.empty(n)
    other[order] = other_sorted
    other_at = np.empty(n, dtype=np.int64)
    other_at[order] = other_at_sorted
    return other[positions], other_at[positions]


def _runs(sorted_group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each run of equal values starts, and each element's run."""
    starts = np.flatnonzero(np.r_[True, sorted_group[1:] != sorted_group[:-1]])
    return starts, np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(sorted_group)]))


def _first_best(w: np.ndarray, starts: np.ndarray, of: np.ndarray, eligible: np.ndarray | None = None) -> np.ndarray:
    """Per run: the first position holding its largest weight (among `eligible`; len(w) when none is)."""
    k = np.arange(len(w))
    hit = w == np.maximum.reduceat(w, starts)[of]
    return np.minimum.reduceat(np.where(hit if eligible is None else hit & eligible, k, len(w)), starts)


class LinkDecision(NamedTuple):
    pos: int  # pair position
    decision: str  # "link" or "review"
    runner_score: float | None  # probability of the best competing pair, None when none
    runner_pos: int  # its pair position, -1 when none
    twin: bool  # the competitor is a second certain remote match (the remote list holds the client twice)
    margin_bits: float  # log2 odds ahead of the competitor (inf when none)
    born_that_day: bool  # the competitor shares the birth date this pair disagrees on
    elsewhere_pos: int  # linked only as its competitor (this pair position) is linked elsewhere; -1 if not


def decide_links(pairs: ScoredPairs, config: MatchConfig) -> list[LinkDecision]:
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
        return []
    w = pairs.log2_odds[eligible]
    left, right = comp.left[eligible], comp.right[eligible]
    everyone = np.arange(len(w))
    certain = (comp.cap[eligible] == LINK) & (pairs.score[eligible] >= config.link_auto_threshold)
    by_left, by_left_at = _best_other(left, w, everyone)
    by_right, by_right_at = _best_other(right, w, everyone)
    wanted = np.flatnonzero(pairs.score[eligible] >= config.link_review_threshold)
    chosen = _greedy_one_to_one(left, right, w, wanted)
    # Decided for all chosen pairs at once: per-pair NumPy scalar calls cost ~0.3 s at 100k.
    sure = certain[chosen]
    remote_at, local_at = by_left_at[chosen], by_right_at[chosen]
    # "Certain" for calling a record a twin asks the runner-up margin beyond the auto threshold: a
    # competitor just over the threshold is as likely a near-namesake as the same client again.
    twin_bits = float(np.log2(config.link_auto_threshold / (1 - config.link_auto_threshold))) + config.runner_up_margin_bits
    very_sure = certain & (w >= twin_bits)
    twin = sure & (remote_at >= 0) & very_sure[np.maximum(remote_at, 0)]
    if pairs.same_remote_client is not None and twin.any():  # and the two remote records are one client
        at = np.flatnonzero(twin)
        twin[at] = pairs.same_remote_client(right[chosen[at]], right[remote_at[at]])
    local_twin = sure & (local_at >= 0) & certain[np.maximum(local_at, 0)]
    by_remote, by_local = by_left[chosen], np.where(local_twin, -np.inf, by_right[chosen])
    if pairs.personal is not None:
        # A competitor that a personal identifier rules out (another tax number, mobile or own e-mail)
        # does not compete with a pair that one agrees on and none rules out: a namesake nearby with
        # a score as certain is another person, not a reason to ask.
        personal = pairs.personal[eligible]
        clean = np.where(personal < 0, -np.inf, w)
        vouched = np.flatnonzero(personal[chosen] > 0)
        at = chosen[vouched]
        cl, cl_at = _best_other(left, clean, at)
        cr, cr_at = _best_other(right, clean, at)
        by_remote[vouched] = np.where(twin[vouched], by_remote[vouched], cl)
        remote_at[vouched] = np.where(twin[vouched], remote_at[vouched], cl_at)
        by_local[vouched] = np.where(local_twin[vouched], -np.inf, cr)
        local_at[vouched] = np.where(local_twin[vouched], local_at[vouched], cr_at)
    best_other = np.where(twin, by_remote, np.maximum(by_remote, by_local))
    other_at = np.where(twin | (by_remote >= by_local), remote_at, local_at)
    # A birth date that differs, where a competing candidate was born on that very day: the fields
    # this pair agrees on are as often a household's (its e-mail, landline, address) as one person's,
    # and a father and son of one name differ by that date alone. Never a link; the competitor is named.
    rival = _born_that_day(comp.levels["dob"][eligible], w, pairs.score[eligible] >= config.link_review_threshold,
                           left, right, chosen)
    born = rival >= 0
    best_other[born] = w[rival[born]]
    other_at[born] = rival[born]
    other_pos = np.where((other_at >= 0) & np.isfinite(best_other), eligible[np.maximum(other_at, 0)], -1)
    margin = w[chosen] - best_other
    auto = sure & (margin >= config.runner_up_margin_bits) & ~twin & ~born
    elsewhere = np.full(len(chosen), -1, dtype=np.int64)
    if pairs.tables is not None:  # pass 1 (see the docstring)
        freed, f_other, f_at = _namesakes_accounted_for(pairs, eligible, chosen, auto, config)
        auto[freed] = True
        best_other[freed], margin[freed] = f_other, w[chosen[freed]] - f_other
        other_pos[freed] = np.where(f_at >= 0, eligible[np.maximum(f_at, 0)], -1)
    if pairs.personal is not None:  # pass 2
        # A pair vouched for by a personal identifier, held only by competitors whose other record is
        # linked to someone else (or that a personal identifier rules out): those are accounted for.
        # So for organisations backed by an identifier of their own (an ABN, phone or own e-mail
        # domain that agrees): the same-named or one slip apart organisation ("Harrison Fitnes
        # Services" beside "Harrison Fitness Services") has its own match, and the certain pair is
        # what remains, as a reviewer would conclude. Not on the name (and an area) alone: the
        # organisation meant may be missing from the other list, and what remains another of that name.
        vouched = pairs.personal[eligible[chosen]] > 0
        if pairs.tables is not None:
            orgs = np.flatnonzero(~pairs.tables[0].is_person[left[chosen]] & ~pairs.tables[1].is_person[right[chosen]])
            vouched[orgs] = _org_backed(pairs, eligible[chosen[orgs]])
        vouched = np.flatnonzero(sure & ~auto & ~twin & ~born & vouched)
        ahead, f_other, f_at = _ahead_of_unlinked(pairs, eligible, chosen, auto, vouched, config, personal=True)
        freed = vouched[ahead]
        auto[freed] = True
        elsewhere[freed] = other_pos[freed]  # the competitor that held it, before the next best replaces it
        best_other[freed], margin[freed] = f_other, w[chosen[freed]] - f_other
        other_pos[freed] = np.where(f_at >= 0, eligible[np.maximum(f_at, 0)], -1)
    runner_score = probability(best_other).tolist()
    return [
        LinkDecision(p, "link" if a else "review", None if inf else r, o, t, m, b, e)
        for p, a, inf, r, o, t, m, b, e in zip(eligible[chosen].tolist(), auto.tolist(), np.isinf(best_other).tolist(),
                                               runner_score, other_pos.tolist(), twin.tolist(), margin.tolist(),
                                               born.tolist(), elsewhere.tolist(), strict=True)
    ]


def _org_backed(pairs: ScoredPairs, pos: np.ndarray) -> np.ndarray:
    """Per organisation pair at `pos`: an identifier of its own agrees (business number, phone, or
    the organisation's own e-mail domain), not only its name and address."""
    assert pairs.tables is not None
    comp, (table_l, table_r) = pairs.comparison, pairs.tables
    lv = comp.levels
    return ((lv["bizno"][pos] == 1) | (lv["phone"][pos] == 1)
            | own_domain_agrees(table_l, table_r, comp.left[pos], comp.right[pos]))


def _namesakes_accounted_for(pairs: ScoredPairs, eligible: np.ndarray, chosen: np.ndarray, auto: np.ndarray,
                             config: MatchConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chosen pairs held for review only because a namesake lives nearby (a father and son of one
    name, without birth dates; for given names one slip apart, a relative of that initial: Brett /
    Brent), where every one of them, in either list, is linked automatically to someone else and is
    evidently another person than the pair's record of that list (not that record entered twice): they
    are accounted for, and the pair is what remains, as a reviewer would conclude. Such a pair links
    when it is certain and ahead of its competitors by the runner-up margin, not counting competitors
    whose other record is linked elsewhere. Returns the positions in `chosen` to link, their best
    remaining competitor's weight and its position."""
    comp = pairs.comparison
    assert pairs.tables is not None
    left, right = comp.left[eligible], comp.right[eligible]
    held = comp.namesake_held[eligible[chosen]]
    at = np.flatnonzero((held > 0) & ~auto & (pairs.score[eligible[chosen]] >= config.link_auto_threshold))
    none = np.empty(0, dtype=np.int64)
    if len(at) == 0:
        return none, np.empty(0), none
    table_l, table_r = pairs.tables
    linked_l = np.zeros(len(table_l), dtype=bool)
    linked_r = np.zeros(len(table_r), dtype=bool)
    linked_l[left[chosen[auto]]] = True
    linked_r[right[chosen[auto]]] = True
    pos = chosen[at]
    ok = np.ones(len(at), dtype=bool)
    for table, records, linked in ((table_l, left[pos], linked_l), (table_r, right[pos], linked_r)):
        for bit, by in ((1, "given"), (2, "initial")):
            check = np.flatnonzero((held[at] & bit) > 0)
            ok[check] &= namesakes_apart_and_linked(table, records[check], linked, by)
    at = at[ok]
    ahead, best, best_at = _ahead_of_unlinked(pairs, eligible, chosen, auto, at, config)
    return at[ahead], best, best_at


def _ahead_of_unlinked(pairs: ScoredPairs, eligible: np.ndarray, chosen: np.ndarray, auto: np.ndarray,
                       at: np.ndarray, config: MatchConfig,
                       personal: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which of the chosen pairs `chosen[at]` are ahead by the runner-up margin of every competing pair
    whose other record is not linked automatically (`auto`) to someone else (with `personal`, nor
    ruled out by a personal identifier); for those, that best competitor's weight and position."""
    if len(at) == 0:
        return np.zeros(0, dtype=bool), np.empty(0), np.empty(0, dtype=np.int64)
    comp = pairs.comparison
    left, right, w = comp.left[eligible], comp.right[eligible], pairs.log2_odds[eligible]
    linked_l = np.zeros(int(left.max(initial=-1)) + 1, dtype=bool)
    linked_r = np.zeros(int(right.max(initial=-1)) + 1, dtype=bool)
    linked_l[left[chosen[auto]]] = True
    linked_r[right[chosen[auto]]] = True
    out = linked_l[left] | linked_r[right]
    if personal and pairs.personal is not None:
        out |= pairs.personal[eligible] < 0
    pos = chosen[at]
    best, best_at = _best_other_either(left, right, np.where(out, -np.inf, w), pos)
    ahead = w[pos] - best >= config.runner_up_margin_bits
    return ahead, best[ahead], best_at[ahead]


def _born_that_day(dob: np.ndarray, w: np.ndarray, plausible: np.ndarray, left: np.ndarray, right: np.ndarray,
                   chosen: np.ndarray) -> np.ndarray:
    """Per chosen pair whose birth dates both exist and differ: the strongest other pair of either of
    its records whose birth dates agree and that is itself a candidate (`plausible`), -1 when none."""
    out = np.full(len(chosen), -1, dtype=np.int64)
    differs = np.flatnonzero(dob[chosen] == 3)
    if len(differs) == 0:
        return out
    out[differs] = _best_other_either(left, right, np.where((dob == 1) & plausible, w, -np.inf), chosen[differs])[1]
    return out


def _best_other_either(left: np.ndarray, right: np.ndarray, weight: np.ndarray,
                       positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """_best_other over both records of each pair at `positions`: the best weight among the other pairs
    of its left or of its right record, and which pair that is (the left's on a tie; -1 when none)."""
    by_l, by_l_at = _best_other(left, weight, positions)
    by_r, by_r_at = _best_other(right, weight, positions)
    best = np.maximum(by_l, by_r)
    return best, np.where(np.isfinite(best), np.where(by_l >= by_r, by_l_at, by_r_at), -1)


def _first_per_group(group: np.ndarray, weight: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    # Ties are broken by position (candidates come in order), the same way for both sides, so a
    # mutual best always exists.
    if len(candidates) == 0:
        return candidates
    order = candidates[np.argsort(group[candidates], kind="stable")]
    starts, of = _runs(group[order])
    return order[_first_best(weight[order], starts, of)]


def _greedy_one_to_one(left: np.ndarray, right: np.ndarray, w: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Strongest pairs first, each record used once: in rounds, accept every pair that is the best
    remaining pair of both its records (the same result as a global greedy pass, vectorised)."""
    accepted: list[np.ndarray] = []
    remaining = candidates
    while len(remaining):
        mutual = np.intersect1d(_first_per_group(left, w, remaining), _first_per_group(right, w, remaining))
        if len(mutual) == 0:
            break
        accepted.append(mutual)
        remaining = remaining[~np.isin(left[remaining], left[mutual]) & ~np.isin(right[remaining], right[mutual])]
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
    *, merge_required: Collection[str] = (),
) -> list[MatchCandidate]:
    """Best remote candidate for each local record (one-to-one), with a link/review decision.

    `merge_required`: local ids in an unresolved duplicate cluster; they are never auto-linked
    (their candidate, if any, is a review with the reason `merge_required`).
    """
    return link_records(local, remote, config, merge_required=merge_required).candidates


def link_records(
    local: Records, remote: Records, config: MatchConfig | None = None,
    *, merge_required: Collection[str] = (),
) -> LinkResult:
    """`match_records`, with what the run counted: how many candidate pairs blocking put side by side."""
    with _bulk_allocation():
        return _match_records(local, remote, config or MatchConfig.default(), frozenset(merge_required))


def _match_records(
    local: Records, remote: Records, config: MatchConfig,
    merge_required: frozenset[str],
) -> LinkResult:
    if not local or not remote:
        return LinkResult()
    left, right, pairs = score_links(local, remote, config)
    result: list[MatchCandidate] = []
    decided = decide_links(pairs, config)
    comp = pairs.comparison
    all_reasons = reasons_for_many(comp, np.asarray([d.pos for d in decided], dtype=np.int64))

    def competing(pos: int, other: int) -> str:
        """The record competing for this pair's: the other side of the competing pair."""
        return right.ids[comp.right[other]] if comp.left[other] == comp.left[pos] else left.ids[comp.left[other]]

    for (pos, decision, runner_score, other, twin, margin, born, elsewhere), reasons in zip(
            decided, all_reasons, strict=True):
        local_id = left.ids[comp.left[pos]]
        remote_id = right.ids[comp.right[pos]]
        runner_id = competing(pos, other) if other >= 0 else None
        if decision == "review":
            reasons.append("held_back_by=" + _held_back_by(
                comp.cap_reason(pos) if comp.cap[pos] < LINK else None, float(pairs.score[pos]),
                config.link_auto_threshold, runner_id, runner_score, margin, config.runner_up_margin_bits, twin,
                born))
        elif comp.cap[pos] < LINK:  # a link the rule held back: its namesake is linked elsewhere
            held = comp.cap_reason(pos)
            reasons = [r for r in reasons if r != held] + ["namesake=linked_elsewhere"]
        elif elsewhere >= 0:  # a link its competitor held back: that record is linked elsewhere
            reasons.append("competitor=linked_elsewhere:" + competing(pos, elsewhere))
        if local_id in merge_required:
            decision = "review"
            reasons.append("merge_required")
        result.append(MatchCandidate(
            local_id, remote_id, round(float(pairs.score[pos]), 6), decision, reasons,  # type: ignore[arg-type]
            runner_score, round(float(pairs.log2_odds[pos]), 2), runner_id,
        ))
    result.sort(key=lambda c: c.local_id)
    return LinkResult(result, len(comp.left))


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
    rules = comparison.cap_reasons(keep)
    ids = table.ids
    pairs: list[DuplicatePair] = []
    # Each pair's values as Python lists, taken out at once (a NumPy scalar per value and pair cost
    # more than half a second at 100k records).
    for reasons, a, b, s, w, dup, cut, join, cluster, other, rule, cap in zip(
            reasons_for_many(comparison, keep), ka.tolist(), kb.tolist(), score[keep].tolist(),
            log2_odds[keep].tolist(), duplicate.tolist(), split.tolist(), joined.tolist(), cluster_a.tolist(),
            joins.tolist(), rules, capped.tolist(), strict=True):
        if cut:
            reasons.append("held_back_by=cluster_guard:split" + (f" (joins c{other + 1})" if other >= 0 else ""))
        elif join:
            reasons.append(f"cluster=c{cluster + 1}")
        elif not dup:
            rule = rule if cap else None
            reasons.append("held_back_by=" + (f"rule:{rule}" if rule else f"score {s:.6f} < {config.duplicate_threshold}"))
        pairs.append(DuplicatePair(ids[a], ids[b], round(s, 6), "duplicate" if dup else "review", reasons,
                                   round(w, 2)))
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

"""The province and its group platform (§6.1–§6.4): the address report and the user changes' outbox.

:class:`GroupLink` runs in the daemon (and, for one user's changes, in a
``kandianctl`` command):

* §6.1: the province reports its addresses (McuUrl, DevUrl) at start and
  every ``report_interval`` seconds — sooner, backing off from
  ``retry_first`` seconds, while the group platform cannot be reached — and
  keeps the client releases the answer names (``releases``, also kept in the
  database so they survive a restart): §9.1's CheckClientUpgrade and the
  portal's download links use them.
* §6.2–§6.4: a user's open, change and cancel are queued in the store in
  the transaction that changes the user (:class:`kandian.core.accounts.Accounts`),
  and sent from here: due changes are claimed (a lease: the daemon and a
  ``kandianctl`` command never send one change at the same time), each
  number's in order; an accepted change is deleted, any other outcome puts
  it back for later — ``retry_first`` seconds after the first failure,
  doubling up to ``retry_max`` — so a change is never lost to an outage or a
  refusal; ``kandianctl group pending`` shows what waits, and why.  A change
  of a user the group platform does not know (§6.3 Result 3) is sent again
  as an open; a cancel of one it does not know is done.

Time is the injected clock's; nothing runs while ``platform.configured`` is
false (``[group] url`` empty: the province is on its own).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from twisted.internet import defer, task
from twisted.logger import Logger

from ..store.group import Report
from . import errors
from .clients import NONE, ClientReleases, Release, upgrade_for

log = Logger()

MAX_ROUNDS = 50  # claims one deliver() makes: a poll never turns into a loop that keeps the reactor


class Outcome(NamedTuple):
    """What became of one change sent: accepted, or queued again with the reason
    (``again``: to be sent at once, in another form)."""

    change_id: int
    kind: str
    mobile: str
    accepted: bool
    why: str
    again: bool = False


class GroupLink:
    def __init__(self, store, clock, platform, *, mcu_url: Callable[[], str], dev_url: Callable[[], str],
                 report_interval: float = 3600.0, poll_interval: float = 5.0, lease: float = 120.0,
                 retry_first: float = 30.0, retry_max: float = 3600.0, batch: int = 20):
        """*platform*: an ``IGroupPlatform``; *mcu_url*, *dev_url*: the
        addresses to report (resolved at each report: a listener on port 0
        knows its port only once bound)."""
        self.store = store
        self.clock = clock
        self.platform = platform
        self.mcu_url = mcu_url
        self.dev_url = dev_url
        self.report_interval = report_interval
        self.poll_interval = poll_interval
        self.lease = lease
        self.retry_first = retry_first
        self.retry_max = retry_max
        self.batch = batch
        self.releases: ClientReleases = NONE
        self.last_report: Report | None = None
        self._report_failures = 0
        self._report_call = None
        self._reporting: defer.Deferred | None = None
        self._poll = task.LoopingCall(self._deliver_due)
        self._poll.clock = clock  # LoopingCall's own way to take a clock
        self._polling: defer.Deferred | None = None

    @property
    def configured(self) -> bool:
        return bool(self.platform.configured)

    def now(self) -> float:
        return self.clock.seconds()

    # -- the daemon's

    @defer.inlineCallbacks
    def start(self):
        """Load the kept releases; with a group platform, report now and start sending changes."""
        self._keep((yield self.store.group.report()))
        if not self.configured:
            return
        self._report_call = self.clock.callLater(0, self._report_tick)
        self._polling = self._poll.start(self.poll_interval, now=True)

    @defer.inlineCallbacks
    def stop(self):
        """Stop both loops, waiting for an exchange in flight."""
        if self._report_call is not None and self._report_call.active():
            self._report_call.cancel()
        self._report_call = None
        if self._poll.running:
            self._poll.stop()
        for running in (self._reporting, self._polling):
            if running is not None:
                yield running

    # -- §6.1

    def _keep(self, report: Report | None) -> None:
        self.last_report = report
        if report is not None and report.result == 0:
            self.releases = releases_of(report)

    @defer.inlineCallbacks
    def report(self):
        """One §6.1 exchange: the ClientReleases answered (kept); GroupUnavailable
        (the failed answer's Result is kept too, for ``kandianctl group status``)."""
        now = self.now()
        try:
            releases = yield self.platform.address_report(self.mcu_url(), self.dev_url())
        except errors.GroupUnavailable as e:
            if e.result is not None:
                yield self._save(Report(now, e.result, *self._fields(self.releases)))
            raise
        yield self._save(Report(now, 0, *self._fields(releases)))
        return releases

    @defer.inlineCallbacks
    def _save(self, report: Report):
        try:
            yield self.store.group.save_report(report)
        finally:
            self._keep(report)

    @staticmethod
    def _fields(releases: ClientReleases) -> tuple[str, ...]:
        fields: list[str] = []
        for release in releases:
            fields.extend((release.url, release.version) if release is not None else ("", ""))
        return tuple(fields)

    def _report_tick(self):
        self._report_call = None
        self._reporting = d = self.report()

        def done(releases):
            if self._report_failures:
                log.info("group platform: address report accepted again")
            else:
                log.info("group platform: address report accepted; clients {releases}",
                         releases=", ".join("%s %s" % (r.version, r.url) for r in releases if r) or "none named")
            self._report_failures = 0
            return self.report_interval

        def failed(failure):
            self._report_failures += 1
            delay = min(self.retry_first * 2 ** (self._report_failures - 1), self.report_interval)
            if failure.check(errors.GroupUnavailable, errors.DatabaseUnavailable):
                (log.warn if self._report_failures == 1 else log.info)(
                    "group platform: address report failed ({n} in a row), again in {delay:.0f} s: {why}",
                    n=self._report_failures, delay=delay, why=failure.getErrorMessage())
            else:
                log.failure("group platform: address report failed", failure)
            return delay

        def schedule(delay):
            self._reporting = None
            if self._poll.running:  # not stopping
                self._report_call = self.clock.callLater(delay, self._report_tick)

        d.addCallbacks(done, failed).addCallback(schedule)

    def client_upgrade(self, version: str) -> Release | None:
        """§9.1 at the province: the release a client at *version* should
        upgrade to, from the group's last answer (None: current, or none known)."""
        return upgrade_for(version, self.releases)

    # -- §6.2–§6.4

    def _deliver_due(self):
        d = self.deliver()
        d.addErrback(lambda f: None if f.check(errors.DatabaseUnavailable) else
                     log.failure("group platform: sending user changes failed", f))
        return d

    @defer.inlineCallbacks
    def deliver(self, mobile: str | None = None):
        """Send the changes due now (only *mobile*'s, if given), each number's
        in order, until none is left that may go: [Outcome]."""
        outcomes: list[Outcome] = []
        for _ in range(MAX_ROUNDS):
            changes = yield self.store.group.claim(self.now(), self.lease, self.batch, mobile)
            if not changes:
                return outcomes
            sent = yield defer.gatherResults([self._send(change) for change in changes], consumeErrors=True)
            outcomes.extend(sent)
            if not any(outcome.accepted or outcome.again for outcome in sent):
                break
        return outcomes

    @defer.inlineCallbacks
    def _send(self, change):
        p, kind, mobile = self.platform, change.kind, change.mobile
        what = "user %s %s" % (kind, mobile)
        try:
            if kind == "open":
                yield p.user_open(mobile, change.ipcam_num)
            elif kind == "change":
                yield p.user_change(mobile, change.ipcam_num)
            else:
                yield p.user_cancel(mobile)
        except errors.NoSuchAccount as e:
            if kind == "cancel":
                log.info("group platform: {what}: it did not know the user; done", what=what)
                yield self.store.group.delivered(change.change_id)
                return Outcome(change.change_id, kind, mobile, True, "the group platform did not know the user")
            # the group lost the user: opening it with today's number is what the change meant
            log.warn("group platform: {what}: it does not know the user; sending it as an open", what=what)
            yield self.store.group.failed(change.change_id, self.now(), 3, str(e), kind="open")
            return Outcome(change.change_id, kind, mobile, False, "the group platform does not know the user;"
                           " sent again as an open", again=True)
        except Exception as e:
            result = getattr(e, "result", None) if isinstance(e, errors.GroupUnavailable) else None
            delay = min(self.retry_first * 2 ** max(0, change.attempts - 1), self.retry_max)
            if isinstance(e, (errors.GroupUnavailable, errors.DatabaseUnavailable)):
                (log.warn if change.attempts == 1 else log.info)(
                    "group platform: {what} not accepted (attempt {n}), again in {delay:.0f} s: {why}",
                    what=what, n=change.attempts, delay=delay, why=str(e))
            else:
                log.failure("group platform: {what} failed", what=what)
            yield self.store.group.failed(change.change_id, self.now() + delay, result, _one_line(e))
            return Outcome(change.change_id, kind, mobile, False, _one_line(e))
        yield self.store.group.delivered(change.change_id)
        log.info("group platform: {what} accepted", what=what)
        return Outcome(change.change_id, kind, mobile, True, "")

    def pending(self) -> defer.Deferred:
        """Every change the group platform has not accepted yet: [kandian.store.group.Change]."""
        return self.store.group.pending()

    def retry(self, change_id: int | None = None) -> defer.Deferred:
        """Make a change (or all) due now; how many."""
        return self.store.group.retry(self.now(), change_id)

    def drop(self, change_id: int) -> defer.Deferred:
        """Give a change up (the operator's decision); whether it was queued."""
        return self.store.group.drop(change_id)


def releases_of(report: Report) -> ClientReleases:
    """The client releases a kept §6.1 answer named."""

    def release(url: str, version: str) -> Release | None:
        return Release(version, url) if url and version else None

    return ClientReleases(android=release(report.android_url, report.android_ver),
                          ios=release(report.ios_url, report.ios_ver),
                          windows=release(report.win_url, report.win_ver))


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())[:500] or type(e).__name__

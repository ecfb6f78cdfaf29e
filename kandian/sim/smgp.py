"""A fake ISMG: the carrier's SMS gateway speaking SMGP 3.0, for tests and benchmarks.

:class:`FakeIsmg` is a server factory usable in-process (tests and
``bench/smgp.py`` listen on loopback port 0 and inspect it) and from the
command line::

    python -m kandian.sim.smgp --listen tcp:9890 --account sp0001:secret [--report-delay 1]

What it checks and does, as a gateway would (codec: :mod:`kandian.sms.smgp`):

* Login: the ClientID must be a configured account and AuthenticatorClient
  MD5(ClientID + 7 × 0x00 + secret + TimeStamp) must match, else Status 21
  (认证错) and the link is closed; Login_Resp carries AuthenticatorServer.
* Submit: MsgFormat 0/4/8/15 (else 34), 1–100 DestTermIDs of digits (else
  47), a readable ValidTime not in the past (else 35 / 37).  Unanswered
  Submits beyond ``window`` are refused with Status 1 (系统忙) and counted in
  :attr:`FakeIsmg.window_exceeded`; :attr:`FakeIsmg.max_outstanding` is the
  most ever unanswered.  An accepted Submit gets a BCD MsgID (SMGW code ·
  MMDDHHMM · sequence) and, when NeedReport is 1, a status report (Deliver,
  IsReport 1) ``report_delay`` seconds later on a logged-in link of the same
  account — reports not acknowledged with Status 0 are delivered again,
  after a reconnect too.  Concatenated parts (TP_udhi) are reassembled into
  :attr:`FakeIsmg.texts`.
* Active_Test and Exit are answered; :meth:`FakeIsmg.send_active_test` asks
  the client.

Faults, set on :attr:`FakeIsmg.faults` at any time: ``refuse_login``
(a Status for every Login), ``reject`` (mobile → Submit_Resp Status),
``report_stat`` (mobile → (stat, err) of its reports), ``silent`` (read
everything, answer nothing), ``drop_after`` (close the link when that many
more Submits arrived, the last unanswered: a drop mid-window),
``answer_delay`` (seconds before each Submit_Resp).  :meth:`FakeIsmg.send_raw`
writes any bytes (garbage, a truncated PDU) to the clients' links;
:meth:`FakeIsmg.disconnect` drops them.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, deque
from typing import Any

import attrs
from twisted.internet import defer
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure

from kandian.sms import smgp

__all__ = ["FakeIsmg", "Faults", "Received", "Text", "main"]

log = Logger()


@attrs.define
class Faults:
    refuse_login: int | None = None
    reject: dict[str, int] = attrs.Factory(dict)
    report_stat: dict[str, tuple[str, str]] = attrs.Factory(dict)
    silent: bool = False
    drop_after: int | None = None
    answer_delay: float = 0.0


@attrs.frozen
class Received:
    """One Submit the gateway accepted."""

    account: str
    msg_id: str
    dest: str
    content: bytes
    msg_format: int
    tlvs: tuple[smgp.Tlv, ...]
    valid_time: str
    at: float


@attrs.frozen
class Text:
    """A whole message as the phone shows it: the parts of a concatenated one joined."""

    dest: str
    text: str
    msg_ids: tuple[str, ...]


class IsmgSession(Protocol):
    def __init__(self, ismg: FakeIsmg) -> None:
        self.ismg = ismg
        self.decoder = smgp.PduDecoder()
        self.account: str | None = None
        self.outstanding = 0
        self.unacked: dict[int, tuple[smgp.StatusReport, str]] = {}
        self._sequence = 0
        self._answers: set[Any] = set()

    def connectionMade(self) -> None:
        self.ismg.sessions.append(self)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.ismg.sessions.remove(self)
        for call in self._answers:
            if call.active():
                call.cancel()
        if self.account is not None:  # reports in flight come again on the next login
            self.ismg._reports[self.account].extendleft(reversed(list(self.unacked.values())))
        self.unacked.clear()

    def next_sequence(self) -> int:
        self._sequence = smgp.next_sequence(self._sequence)
        return self._sequence

    def send(self, pdu: Any) -> None:
        self.transport.write(pdu.to_wire())

    def dataReceived(self, data: bytes) -> None:
        try:
            for pdu in self.decoder.feed(data):
                if self.transport.disconnecting:  # what follows a close is not read
                    return
                self.handle(pdu)
        except smgp.SmgpError as e:
            self.ismg.bad_input.append(str(e))
            self.transport.loseConnection()

    def handle(self, pdu: Any) -> None:
        ismg, faults = self.ismg, self.ismg.faults
        ismg.received_pdus[type(pdu).__name__] += 1
        if faults.silent:
            if isinstance(pdu, smgp.Submit):
                ismg.ignored.append(pdu)
            return
        if isinstance(pdu, smgp.Login):
            self.login(pdu)
        elif self.account is None:
            self.transport.loseConnection()
        elif isinstance(pdu, smgp.Submit):
            self.submit(pdu)
        elif isinstance(pdu, smgp.DeliverResp):
            self.delivered(pdu)
        elif isinstance(pdu, smgp.ActiveTest):
            self.send(smgp.ActiveTestResp(pdu.sequence_id))
        elif isinstance(pdu, smgp.ActiveTestResp):
            ismg.active_tests_answered += 1
        elif isinstance(pdu, smgp.Exit):
            ismg.exits += 1
            self.send(smgp.ExitResp(pdu.sequence_id))
            self.transport.loseConnection()

    def login(self, login: smgp.Login) -> None:
        ismg = self.ismg
        secret = ismg.accounts.get(login.client_id)
        if secret is None or login.authenticator != smgp.authenticator_client(login.client_id, secret, login.timestamp):
            status = 21
        else:
            status = ismg.faults.refuse_login or 0
        ismg.logins.append((login.client_id, status))
        if status:
            self.send(smgp.LoginResp(login.sequence_id, status))
            self.transport.loseConnection()
            return
        self.account = login.client_id
        log.info("fake ISMG: {account} logged in", account=login.client_id)
        self.send(smgp.LoginResp(login.sequence_id, 0, smgp.authenticator_server(0, login.authenticator, secret)))
        ismg._deliver_reports(self.account)

    def submit(self, submit: smgp.Submit) -> None:
        ismg, faults = self.ismg, self.ismg.faults
        now = ismg.clock.seconds()
        ismg.submit_times.append(now)
        if faults.drop_after is not None:
            faults.drop_after -= 1
            if faults.drop_after <= 0:
                faults.drop_after = None
                ismg.dropped.append(submit)
                self.transport.loseConnection()
                return
        if self.outstanding >= ismg.window:
            ismg.window_exceeded += 1
            self.send(smgp.SubmitResp(submit.sequence_id, b"\0" * 10, 1))
            return
        self.outstanding += 1
        ismg.max_outstanding = max(ismg.max_outstanding, self.outstanding)
        status = ismg._check(submit, now)
        msg_id = ismg._msg_id(now) if status == 0 else b"\0" * 10
        if status == 0:
            ismg._accept(self.account, submit, msg_id, now)
        answer = smgp.SubmitResp(submit.sequence_id, msg_id, status)
        if faults.answer_delay > 0:
            call = ismg.clock.callLater(faults.answer_delay, self._answer, answer)
            self._answers.add(call)
        else:
            self._answer(answer)

    def _answer(self, answer: smgp.SubmitResp) -> None:
        self._answers = {call for call in self._answers if call.active()}
        self.outstanding -= 1
        self.send(answer)

    def delivered(self, resp: smgp.DeliverResp) -> None:
        self.ismg.deliver_resps.append((resp.msg_id.hex(), resp.status))
        item = self.unacked.pop(resp.sequence_id, None)
        if item is None:
            return
        if resp.status == 0:
            self.ismg.reports_acked.append(item[0].msg_id.hex())
        else:
            self.ismg.reports_refused.append((item[0].msg_id.hex(), resp.status))
            self.ismg._queue_report(self.account, item, self.ismg.report_delay)


class FakeIsmg(Factory):
    protocol = IsmgSession

    def __init__(self, clock: IReactorTime | None = None, *, accounts: dict[str, str], window: int = 16,
                 report_delay: float = 1.0, smgw_code: str = "010061") -> None:
        if clock is None:
            from twisted.internet import reactor as clock  # type: ignore[assignment]
        self.clock = clock
        self.accounts = dict(accounts)
        self.window = window
        self.report_delay = report_delay
        self.smgw_code = smgw_code
        self.faults = Faults()
        self.sessions: list[IsmgSession] = []
        self.logins: list[tuple[str, int]] = []
        self.received: list[Received] = []
        self.texts: list[Text] = []
        self.submit_times: list[float] = []
        self.ignored: list[smgp.Submit] = []
        self.dropped: list[smgp.Submit] = []
        self.received_pdus: Counter = Counter()
        self.bad_input: list[str] = []
        self.reports_acked: list[str] = []
        self.reports_refused: list[tuple[str, int]] = []
        self.deliver_resps: list[tuple[str, int]] = []  # (the Deliver's MsgID, Status) of every Deliver_Resp
        self.max_outstanding = 0
        self.window_exceeded = 0
        self.active_tests_answered = 0
        self.exits = 0
        self._sequence = 0
        self._reports: dict[str, deque] = {account: deque() for account in self.accounts}
        self._parts: dict[tuple, dict[int, tuple[bytes, str]]] = {}
        self._timers: set[Any] = set()

    def buildProtocol(self, addr: Any) -> IsmgSession:
        return IsmgSession(self)

    def listen(self, reactor: Any, description: str = "tcp:0:interface=127.0.0.1") -> defer.Deferred:
        return serverFromString(reactor, description).listen(self)

    # -- inspection and faults

    @property
    def logged_in(self) -> list[IsmgSession]:
        return [session for session in self.sessions if session.account is not None]

    def send_raw(self, data: bytes) -> None:
        for session in list(self.sessions):
            session.transport.write(data)

    def disconnect(self) -> None:
        for session in list(self.sessions):
            session.transport.loseConnection()

    def send_active_test(self) -> int:
        for session in self.logged_in:
            session.send(smgp.ActiveTest(session.next_sequence()))
        return len(self.logged_in)

    def deliver_raw(self, content: bytes, is_report: int = 1, msg_format: int = 0, src: str = "13800138000") -> None:
        """A Deliver with any MsgContent on every logged-in link (a bad report, a phone's reply)."""
        for session in self.logged_in:
            session.send(smgp.Deliver(session.next_sequence(), self._msg_id(self.clock.seconds()), is_report,
                                      msg_format, self._recv_time(), src, "", content))

    def stop(self) -> None:
        """Cancel the reports still scheduled (tests leave no delayed calls)."""
        for call in self._timers:
            if call.active():
                call.cancel()
        self._timers.clear()

    # -- behaviour

    def _check(self, submit: smgp.Submit, now: float) -> int:
        if submit.msg_format not in (smgp.ASCII, smgp.BINARY, smgp.UCS2, smgp.GB18030):
            return 34
        if not 1 <= len(submit.dest_term_ids) <= 100 or not all(d.isdigit() for d in submit.dest_term_ids):
            return 47
        if submit.valid_time:
            try:
                if smgp.parse_smgp_time(submit.valid_time) < now:
                    return 37
            except ValueError:
                return 35
        for dest in submit.dest_term_ids:
            if dest in self.faults.reject:
                return self.faults.reject[dest]
        return 0

    def _msg_id(self, now: float) -> bytes:
        self._sequence = (self._sequence + 1) % 1000000
        stamp = smgp.login_timestamp(now) // 100  # MMDDHHMM
        return bytes.fromhex("%s%08d%06d" % (self.smgw_code, stamp, self._sequence))

    def _recv_time(self) -> str:
        return "20" + smgp.smgp_time(self.clock.seconds())[:12]  # YYYYMMDDhhmmss

    def _accept(self, account: str | None, submit: smgp.Submit, msg_id: bytes, now: float) -> None:
        assert account is not None
        for dest in submit.dest_term_ids:
            self.received.append(Received(account, msg_id.hex(), dest, submit.msg_content, submit.msg_format,
                                          submit.tlvs, submit.valid_time, now))
            self._reassemble(dest, submit, msg_id.hex())
            if submit.need_report:
                stat, err = self.faults.report_stat.get(dest, ("DELIVRD", "000"))
                date = smgp.smgp_time(now)[:10]
                report = smgp.StatusReport(msg_id, stat, err, date, date, "001", "001" if stat == "DELIVRD" else "000")
                self._queue_report(account, (report, dest), self.report_delay)

    def _reassemble(self, dest: str, submit: smgp.Submit, msg_id: str) -> None:
        content = submit.msg_content
        if submit.tlv_int(smgp.TP_UDHI) == 1:
            try:
                concat, payload = smgp.parse_udh(content)
            except smgp.BadPdu:
                concat, payload = None, content
            if concat is not None and concat.total > 1:
                key = (dest, concat.reference, concat.total)
                parts = self._parts.setdefault(key, {})
                parts[concat.number] = (payload, msg_id)
                if len(parts) == concat.total:
                    del self._parts[key]
                    ordered = [parts[n] for n in sorted(parts)]
                    text = smgp.decode_text(submit.msg_format, b"".join(p for p, _ in ordered))
                    self.texts.append(Text(dest, text, tuple(i for _, i in ordered)))
                return
            content = payload
        self.texts.append(Text(dest, smgp.decode_text(submit.msg_format, content), (msg_id,)))

    def _queue_report(self, account: str, item: tuple[smgp.StatusReport, str], delay: float) -> None:
        def due() -> None:
            self._timers.discard(call)
            self._reports[account].append(item)
            self._deliver_reports(account)

        call = self.clock.callLater(delay, due)
        self._timers.add(call)

    def _deliver_reports(self, account: str) -> None:
        sessions = [s for s in self.logged_in if s.account == account]
        if not sessions:
            return
        session, queue = sessions[0], self._reports[account]
        while queue:
            report, dest = queue.popleft()
            sequence = session.next_sequence()
            session.unacked[sequence] = (report, dest)
            session.send(smgp.Deliver(sequence, self._msg_id(self.clock.seconds()), 1, smgp.ASCII,
                                      self._recv_time(), dest, "", report.to_bytes()))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m kandian.sim.smgp", description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", default="tcp:9890", help="server endpoint (default tcp:9890)")
    parser.add_argument("--account", action="append", required=True, metavar="ID:SECRET",
                        help="a ClientID and its shared secret (repeatable)")
    parser.add_argument("--window", type=int, default=16)
    parser.add_argument("--report-delay", type=float, default=1.0)
    parser.add_argument("--answer-delay", type=float, default=0.0)
    parser.add_argument("--reject", action="append", default=[], metavar="MOBILE:STATUS",
                        help="answer Submits to MOBILE with STATUS (repeatable)")
    args = parser.parse_args(argv)
    accounts = dict(item.split(":", 1) for item in args.account)

    from twisted.internet import reactor, task
    from twisted.logger import globalLogBeginner, textFileLogObserver

    globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stdout)])
    ismg = FakeIsmg(reactor, accounts=accounts, window=args.window, report_delay=args.report_delay)
    ismg.faults.answer_delay = args.answer_delay
    ismg.faults.reject = {mobile: int(status) for mobile, status in (r.split(":", 1) for r in args.reject)}

    def run(reactor: Any) -> defer.Deferred:
        d = ismg.listen(reactor, args.listen)
        d.addCallback(lambda port: log.info("fake ISMG listening on {host}:{port}", host=port.getHost().host,
                                            port=port.getHost().port))
        return defer.Deferred()  # until interrupted

    task.react(run)


if __name__ == "__main__":
    main()

"""Sending SMS (§2.6; §8.1 GetSmsPassword, §7.5.34 alarms, §4.17 DevKeys).

* :mod:`kandian.sms.smgp` — the SMGP 3.0 codec (sans-IO);
* :mod:`kandian.sms.client` — :class:`~kandian.sms.client.SmgpClient`, the
  connection to the carrier's gateway (login, window, rate, reports);
* :mod:`kandian.sms.errors` — what a failed submit means;
* :mod:`kandian.sms.sender` — the durable outbox's sender over the client,
  and :mod:`kandian.sms.outcomes`, what each answer does to a message.

Implementations of :class:`kandian.core.interfaces.ISmsSender` live here
too.  Its ``delivers`` says whether a message reaches the phone at all: the
core replaces a password only through a sender that delivers, since a
password nobody receives locks the account's owner out.
:class:`LoggingSmsSender` is the sender while no gateway is configured: it
delivers nothing, and what it is asked to send goes to the log with the
digits of a password masked, since secrets are never logged.
"""

from __future__ import annotations

import re

from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from ..core.interfaces import ISmsSender
from ..logs import peer_text

log = Logger()


@implementer(ISmsSender)
class LoggingSmsSender:
    delivers = False

    def __init__(self):
        self.sent: list[tuple[str, str]] = []  # for tests and the operator's eyes

    def send(self, mobile: str, text: str, kind: str = "message", display: str | None = None) -> defer.Deferred:
        self.sent.append((mobile, text))
        shown = display if display is not None else text
        log.info("SMS to {mobile} (not sent: no gateway configured): {text}", mobile=peer_text(mobile),
                 text=re.sub(r"\d{4,}", lambda m: "*" * len(m.group()), shown))
        return defer.succeed(None)

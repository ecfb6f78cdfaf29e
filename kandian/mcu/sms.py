"""Sending SMS (§8.1 GetSmsPassword, later alarm notifications).

:class:`ISmsSender` is what the MCU service needs; :class:`LoggingSmsSender`
writes the message to the log instead of sending it (development, and until
the carrier's SMGP 3.0 gateway client lands) — with the digits of a password
masked, since secrets are never logged.
"""

from __future__ import annotations

import re

from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import Interface, implementer

log = Logger()


class ISmsSender(Interface):
    def send(mobile: str, text: str) -> defer.Deferred:
        """Send *text* to *mobile*; fires when the gateway accepted it."""


@implementer(ISmsSender)
class LoggingSmsSender:
    def __init__(self):
        self.sent: list[tuple[str, str]] = []  # for tests and the operator's eyes

    def send(self, mobile: str, text: str) -> defer.Deferred:
        self.sent.append((mobile, text))
        log.info("SMS to {mobile} (not sent: no gateway configured): {text}", mobile=mobile,
                 text=re.sub(r"\d{4,}", lambda m: "*" * len(m.group()), text))
        return defer.succeed(None)

"""Sending SMS (§8.1 GetSmsPassword, later alarm notifications).

:class:`ISmsSender` is what the MCU service needs.  Its ``delivers`` says
whether a message reaches the phone at all: GetSmsPassword replaces a
password only through a sender that delivers, since a password nobody
receives locks the account's owner out.  :class:`LoggingSmsSender` is the
sender while no gateway is configured (until the carrier's SMGP 3.0 gateway
client lands): it delivers nothing, and what it is asked to send goes to the
log with the digits of a password masked, since secrets are never logged.
"""

from __future__ import annotations

import re

from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import Attribute, Interface, implementer

from ..logs import peer_text

log = Logger()


class ISmsSender(Interface):
    delivers = Attribute("True when messages reach the phone (a gateway is configured)")

    def send(mobile: str, text: str) -> defer.Deferred:
        """Send *text* to *mobile*; fires when the gateway accepted it."""


@implementer(ISmsSender)
class LoggingSmsSender:
    delivers = False

    def __init__(self):
        self.sent: list[tuple[str, str]] = []  # for tests and the operator's eyes

    def send(self, mobile: str, text: str) -> defer.Deferred:
        self.sent.append((mobile, text))
        log.info("SMS to {mobile} (not sent: no gateway configured): {text}", mobile=peer_text(mobile),
                 text=re.sub(r"\d{4,}", lambda m: "*" * len(m.group()), text))
        return defer.succeed(None)

"""What the SMGP client's submit fails with (the contract the outbox's sender programs against)."""

from __future__ import annotations


class SmgpRejected(Exception):
    """A Submit_Resp with a non-zero Status: the gateway refused the message."""

    def __init__(self, status: int):
        super().__init__("gateway status %d" % (status,))
        self.status = status


class GatewayUnavailable(Exception):
    """Not logged in, the connection was lost or the gateway did not answer in
    time: whether the message was accepted is unknown."""

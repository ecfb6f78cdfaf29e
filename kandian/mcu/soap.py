"""Hosting the spyne application on ``/mcu`` of the ``[mcu]`` listener (§8).

Why not ``spyne.server.twisted``: it does not import on current Twisted (it
needs the removed ``twisted.python.constants``) and mixes bytes and str on
Python 3.  Why not ``WSGIResource``: WSGI handlers run in threads, and every
operation waits on the database or a device link; a thread per waiting
request would cap concurrency at the pool size.  So this small resource uses
spyne as a codec only, on the reactor thread — parse and validate the
envelope (``generate_contexts`` / ``get_in_object``), call the operation,
which returns a Deferred, then serialize its result (``get_out_string``) —
and nothing here ever blocks.

Every bad input gets a SOAP 1.1 Fault, never a traceback: a body that is not
XML (``Client.XMLSyntaxError``), a DTD or entity (``Client.EntitiesNotAllowed``),
not UTF-8 (``Client.EncodingNotSupported``), too deep or too many elements,
attributes or namespaces (``Client.XMLLimitExceeded``; all four read by
:mod:`kandian.mcu.xmlin`), an envelope that is not SOAP 1.1 (``Client.SoapError``), an unknown
operation or a missing or mistyped parameter (``Client.SchemaValidationError``:
the body is validated against the WSDL's schema before dispatch), a value
out of the spec's range (``Client.ValueError``), an internal error
(``Server``).  An oversize body is refused with HTTP 413 before it is read
(:mod:`kandian.web`).  ``GET /mcu?wsdl`` serves the WSDL; other GETs get 405.

Every spyne context is released once its answer is written, whichever way the
request ended (:func:`_release`): a context sits in reference cycles (its
protocol and transport contexts point back at it, a fault's traceback holds
the frames that held it), so without that its parsed document — megabytes
for a hostile body — waited for a full collection of the garbage collector,
which the daemon's tuned collector (:func:`kandian.service._tune_gc`) runs
rarely: 230 such bodies held a gigabyte.
"""

from __future__ import annotations

import collections
import logging

import spyne.const
from spyne import Fault
from spyne.interface.wsdl import Wsdl11
from spyne.server.http import HttpBase, HttpMethodContext, HttpTransportContext
from twisted.internet import defer
from twisted.logger import Logger
from twisted.web import resource, server

from ..core.errors import DatabaseUnavailable
from ..logs import peer_text
from . import envelope
from .api import McuApplication
from .compiled import CompiledReader

log = Logger()

# spyne reports faults through the stdlib logging module, with tracebacks;
# this resource logs each bad request once, itself.
for _name in ("spyne", "spyne.protocol", "spyne.server", "spyne.application"):
    logging.getLogger(_name).setLevel(logging.CRITICAL)
# spyne's MethodContext.close() runs a full gc.collect() on the reactor thread
# up to once a second; the daemon manages its collector itself (kandian.service)
spyne.const.MIN_GC_INTERVAL = float("inf")

SOAP_CONTENT_TYPE = b"text/xml; charset=utf-8"


class _TransportContext(HttpTransportContext):
    def get_request_content_type(self):
        return self.req.getHeader("content-type") or "text/xml"

    def get_request_method(self):
        return self.req.method.decode("ascii", "replace")

    def get_path(self):
        return self.req.path.decode("utf-8", "replace")

    def get_path_and_qs(self):
        return self.req.uri.decode("utf-8", "replace")

    def get_peer(self):
        return self.req.getClientAddress()

    def set_mime_type(self, what):
        HttpTransportContext.set_mime_type(self, what)


class _MethodContext(HttpMethodContext):
    HttpTransportContext = _TransportContext


class SoapResource(resource.Resource):
    isLeaf = True

    def __init__(self, app, wsdl_url):
        """*wsdl_url* is the endpoint address written into the WSDL, or a
        callable giving it (resolved on the first WSDL request, once the
        listener's port is known)."""
        super().__init__()
        self.app = app
        self.transport = HttpBase(app)
        # requests read without spyne when they can be read exactly as spyne reads them (kandian.mcu.compiled);
        # only for the MCU contract, whose operations hand their arguments to its handlers
        self.reader = CompiledReader(app) if isinstance(app, McuApplication) else None
        self.wsdl_url = wsdl_url
        self._wsdl: bytes | None = None
        self.requests: collections.Counter = collections.Counter()  # (operation, result) → count
        self.faults: collections.Counter = collections.Counter()  # faultcode → count

    # -- WSDL

    def wsdl(self) -> bytes:
        if self._wsdl is None:
            document = Wsdl11(self.app.interface)
            document.build_interface_document(self.wsdl_url() if callable(self.wsdl_url) else self.wsdl_url)
            self._wsdl = document.get_interface_document()
        return self._wsdl

    def render_GET(self, request):
        if b"wsdl" in request.args or request.uri.lower().endswith(b"?wsdl"):
            request.setHeader(b"content-type", SOAP_CONTENT_TYPE)
            return self.wsdl()
        request.setResponseCode(405)
        request.setHeader(b"allow", b"POST")
        return b"POST a SOAP 1.1 envelope here; the WSDL is at ?wsdl\n"

    # -- calls

    def render_POST(self, request):
        body = request.content.read()
        if self.reader is not None:
            call = self.reader.read(body)
            if call is not None:  # read as spyne would (kandian.mcu.compiled): no spyne context
                return self._call(request, *call)
        ctx = _MethodContext(self.transport, request, SOAP_CONTENT_TYPE.decode())
        ctx.in_string = [body]
        p_ctx = ctx
        try:
            p_ctx = self.transport.generate_contexts(ctx)[0]
            if p_ctx is not ctx:  # spyne copied it for the operation; the copy shares its transport
                ctx.close()
                _drop_state(ctx)
            if p_ctx.in_error is None:
                self.transport.get_in_object(p_ctx)
            if p_ctx.in_error is not None:
                return self._fault(request, p_ctx, p_ctx.in_error)
            self.transport.get_out_object(p_ctx)
            if p_ctx.out_error is not None:
                return self._fault(request, p_ctx, p_ctx.out_error)
        except Exception as e:
            log.failure("SOAP request could not be decoded")
            _release(p_ctx)
            return self._fault(request, None, Fault("Server", "internal error"), e)
        out = p_ctx.out_object
        # spyne hands back the operation's Deferred bare (several outputs) or in a list (one)
        if not isinstance(out, defer.Deferred):
            out = out[0] if out else None
        answer = out if isinstance(out, defer.Deferred) else defer.succeed(out)
        answer.addCallback(self._respond, request, p_ctx)
        answer.addErrback(self._failed, request, p_ctx)
        return server.NOT_DONE_YET

    def _call(self, request, descriptor, args):
        ctx = _Call(self.app, descriptor, request)
        answer = defer.maybeDeferred(descriptor.function, ctx, *args)
        answer.addCallback(self._respond, request, ctx)
        answer.addErrback(self._failed, request, ctx)
        return server.NOT_DONE_YET

    def _respond(self, result, request, p_ctx):
        name = p_ctx.descriptor.name
        first = result[0] if isinstance(result, tuple) else result
        if not isinstance(first, int):
            first = None  # an operation answering no Result (§9.2 GetPlatformList)
        self.requests[(name, first)] += 1
        # answers are written by kandian.mcu.envelope (spyne's serializer dominated
        # an answer's cost; docs/benchmarks.md, "SOAP"); faults still go through spyne
        try:
            self._write(request, 200, envelope.response(p_ctx.descriptor, result, self.app.tns))
        finally:
            _release(p_ctx)

    def _failed(self, failure, request, p_ctx):
        if failure.check(Fault):
            fault = failure.value
            self._count_fault(fault)
            # a quiet fault (a throttled guesser) is counted, not logged per request
            (log.debug if getattr(fault, "quiet", False) else log.info)(
                "SOAP {operation}: fault {code}: {why}", operation=_operation(p_ctx),
                code=fault.faultcode, why=peer_text(fault.faultstring, 200))
        elif failure.check(DatabaseUnavailable):
            fault = Fault("Server", "database unavailable")  # the pool logged the outage once
        else:
            log.failure("SOAP {operation} failed", failure, operation=_operation(p_ctx))
            fault = Fault("Server", "internal error")
            self._count_fault(fault)
        if isinstance(p_ctx, _Call):  # a compiled call: the fault is written through a spyne context of its own
            p_ctx = _MethodContext(self.transport, request, SOAP_CONTENT_TYPE.decode())
        p_ctx.out_error = fault
        p_ctx.out_object = fault
        p_ctx.out_document = p_ctx.out_string = None
        try:
            self.transport.get_out_string(p_ctx)
            self._write(request, 500, b"".join(p_ctx.out_string))
        finally:
            _release(p_ctx)

    def _fault(self, request, p_ctx, fault: Fault, error: BaseException | None = None) -> bytes:
        self._count_fault(fault)
        if error is None:
            log.info("SOAP request refused: {code}: {why}", code=fault.faultcode,
                     why=peer_text(" ".join(str(fault.faultstring).split()), 200))
        ctx = p_ctx if p_ctx is not None else _MethodContext(self.transport, request, SOAP_CONTENT_TYPE.decode())
        try:
            ctx.out_error = fault
            ctx.out_object = fault
            ctx.out_document = ctx.out_string = None
            self.app.out_protocol.serialize(ctx, message=self.app.out_protocol.RESPONSE)
            self.app.out_protocol.create_out_string(ctx)
            request.setResponseCode(500)
            request.setHeader(b"content-type", SOAP_CONTENT_TYPE)
            return b"".join(ctx.out_string)
        finally:
            _release(ctx)

    def _count_fault(self, fault: Fault) -> None:
        self.faults[str(fault.faultcode)] += 1

    @staticmethod
    def _write(request, code: int, data: bytes) -> None:
        if request.finished or request._disconnected:
            return
        request.setResponseCode(code)
        request.setHeader(b"content-type", SOAP_CONTENT_TYPE)
        request.write(data)
        request.finish()


def _operation(p_ctx) -> str:
    descriptor = getattr(p_ctx, "descriptor", None)
    return descriptor.name if descriptor is not None else "?"


# what a context holds of one request: released by refcount once these are gone
_REQUEST_STATE = ("in_string", "in_document", "in_header_doc", "in_body_doc", "in_header", "in_object",
                  "in_error", "out_object", "out_header", "out_error", "out_body_doc", "out_header_doc",
                  "out_document", "out_string")


class _Call:
    """What an operation and its handlers see of a call read by the compiled reader: the
    application, the operation's descriptor, and the transport's HTTP request."""

    __slots__ = ("app", "descriptor", "transport", "is_closed")

    def __init__(self, app, descriptor, request):
        self.app = app
        self.descriptor = descriptor
        self.transport = _CallTransport(request)
        self.is_closed = True  # nothing of spyne's to release


class _CallTransport:
    __slots__ = ("req",)

    def __init__(self, req):
        self.req = req


def _release(ctx) -> None:
    """Close *ctx* and drop what it holds of its request (see the module docstring)."""
    if ctx.is_closed:
        return
    try:
        ctx.close()
    finally:
        _drop_state(ctx)
        ctx.transport.req = None


def _drop_state(ctx) -> None:
    for name in ("in_error", "out_error"):
        error = getattr(ctx, name, None)
        if isinstance(error, BaseException):
            error.__traceback__ = None
    for name in _REQUEST_STATE:
        setattr(ctx, name, None)

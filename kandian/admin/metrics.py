"""``GET /metrics`` on the ``[admin]`` listener: Prometheus text format.

The interfaces keep plain counters (``LinkStats``, ``RelayStats``, the SOAP
resource's counters, the controller's alarm count); this collector reads them
at scrape time, so nothing on a hot path pays for metrics.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from twisted.web import resource

from ..device.link import ROUND_TRIP_BUCKETS


def _cmd(cmd: int) -> str:
    return "0x%02X" % cmd


class PlatformCollector:
    def __init__(self, platform):
        self.platform = platform

    def collect(self):
        p = self.platform
        links = p.link_stats
        yield GaugeMetricFamily("kandian_devices_online", "Devices with a logged-in link on this node",
                                value=len(p.links))
        yield _counter("kandian_device_logins", "LOGIN_REQ answered, by Result", ["result"],
                       {(str(k),): v for k, v in links.logins.items()})
        yield _counter("kandian_device_frames_in", "Frames received from devices, by CMD", ["cmd"],
                       {(_cmd(k),): v for k, v in links.frames_in.items()})
        yield _counter("kandian_device_frames_out", "Frames sent to devices, by CMD", ["cmd"],
                       {(_cmd(k),): v for k, v in links.frames_out.items()})
        yield _counter("kandian_device_bad_frames", "Bad input on device links, by reason", ["reason"],
                       {(k,): v for k, v in links.bad_frames.items()})
        yield _counter("kandian_device_request_failures", "Device requests answered 255 because handling failed",
                       ["cmd"], {(_cmd(k),): v for k, v in links.request_failures.items()})
        yield _counter("kandian_device_command_timeouts", "Platform→device commands not answered in time",
                       ["cmd"], {(_cmd(k),): v for k, v in links.command_timeouts.items()})
        histogram = HistogramMetricFamily("kandian_device_command_seconds",
                                          "Round trip of platform→device commands", labels=["cmd"])
        for cmd, counts in sorted(links.command_buckets.items()):
            cumulative, buckets = 0, []
            for bound, count in zip([*map(str, ROUND_TRIP_BUCKETS), "+Inf"], counts):
                cumulative += count
                buckets.append((bound, cumulative))
            histogram.add_metric([_cmd(cmd)], buckets, links.command_seconds[cmd])
        yield histogram
        yield CounterMetricFamily("kandian_alarms_stored", "Alarms stored (repeats within 60 s excluded)",
                                  value=p.controller.alarms_stored)
        upgrades, devlogs = p.core.upgrades, p.core.devlogs
        yield _counter("kandian_upgrades", "Firmware upgrades by this node: UPGRADE_REQ accepted, devices done,"
                       " failed", ["outcome"], {(k,): upgrades.outcomes[k] for k in ("sent", "done", "failed")})
        yield GaugeMetricFamily("kandian_upgrades_in_flight", "Devices sent an upgrade that is not over",
                                value=len(upgrades.in_flight))
        yield _counter("kandian_log_requests", "kandianctl device logs requests: sent, refused, expired",
                       ["outcome"], {(k,): devlogs.outcomes[k] for k in ("sent", "refused", "expired")})
        soap = getattr(p, "soap", None)
        if soap is not None:
            yield _counter("kandian_soap_requests", "SOAP requests answered, by operation and Result",
                           ["operation", "result"], {(op, str(result)): v for (op, result), v in soap.requests.items()})
            yield _counter("kandian_soap_faults", "SOAP faults, by faultcode", ["faultcode"],
                           {(code,): v for code, v in soap.faults.items()})
        yield from _group_metrics(p)
        relay = p.relay_stats
        yield GaugeMetricFamily("kandian_relay_sessions", "RTSP sessions being relayed", value=relay.active)
        yield CounterMetricFamily("kandian_relay_sessions_started", "RTSP sessions relayed since start",
                                  value=relay.sessions)
        yield _counter("kandian_relay_bytes", "Bytes relayed, by direction", ["direction"],
                       {("to_client",): relay.bytes_to_client, ("to_upstream",): relay.bytes_to_upstream})
        yield _counter("kandian_relay_refusals", "RTSP requests refused, by status and reason", ["status", "reason"],
                       {(str(code), why): v for (code, why), v in relay.refusals.items()})
        yield _counter("kandian_relay_dropped", "Relay sessions and client data dropped, by cause", ["cause"],
                       {("client_frames_before_setup",): relay.client_frames_dropped,
                        ("client_not_reading",): relay.slow_clients})
        authorizer = getattr(p, "relay_authorizer", None)
        yield _counter("kandian_dial_refused", "Device-reported addresses not dialled (dial policy), by dialler",
                       ["by"], {("relay",): getattr(authorizer, "policy_refused", 0), ("upnp_probe",): p.probe.refused})
        yield _counter("kandian_upnp_probes_skipped", "UPnP probes not tried: too many already waiting", [],
                       {(): p.probe.skipped})
        yield from _ftp_metrics(p)
        portal = getattr(p, "portal_stats", None)
        if portal is not None:
            yield CounterMetricFamily("kandian_portal_requests", "REST API requests", value=portal.requests)
            yield _counter("kandian_portal_errors", "REST API refusals, by error code", ["error"],
                           {(code,): v for code, v in portal.errors.items()})
            auth = p.core.api_auth
            yield _counter("kandian_portal_logins", "Portal and REST API logins, by outcome", ["outcome"],
                           {("ok",): auth.logins, ("failed",): auth.failures})
        yield from _onenet_metrics(p)
        yield from _listener_metrics(p)
        yield from _compat_metrics(p)
        sms = getattr(p, "sms_client", None)
        if sms is not None:
            yield from sms_metrics(sms)
        yield from _sms_metrics(p)
        yield from _media_metrics(p)
        db = p.db
        pool = GaugeMetricFamily("kandian_db_pool_connections", "Database pool connections", labels=["state"])
        pool.add_metric(["in_use"], db.in_use)
        pool.add_metric(["idle"], db.pool.idle)
        pool.add_metric(["down"], db.size - db.pool.up)
        yield pool
        yield CounterMetricFamily("kandian_db_unavailable", "Queries refused because the database was down",
                                  value=db.pool.refused)
        yield CounterMetricFamily("kandian_db_outages", "Database outages (a pool connection lost) since start",
                                  value=db.pool.outages)
        yield GaugeMetricFamily("kandian_db_pool_waiting", "Queries waiting for a pool connection",
                                value=db.waiting)


def _compat_metrics(p):
    """The compatibility APIs (spec/000 [mvb], spec/002 [cloudmonitor]) and the play sessions they steer."""
    mvb = getattr(p, "mvb_stats", None)
    if mvb is not None and "mvb" in p.factories:
        yield _counter("kandian_mvb_requests", "spec/000 requests, by action", ["action"],
                       {(k,): v for k, v in mvb.requests.items()})
        yield _counter("kandian_mvb_answers", "spec/000 answers, by StatusCode", ["status"],
                       {(str(k),): v for k, v in mvb.answers.items()})
        yield CounterMetricFamily("kandian_mvb_bad_requests", "spec/000 requests not read (body, path, method)",
                                  value=mvb.bad_requests)
        sessions = p.core.play_sessions
        yield GaugeMetricFamily("kandian_play_sessions", "Play sessions held (spec/000)", value=len(sessions.sessions))
        yield CounterMetricFamily("kandian_play_sessions_opened", "Play sessions opened since start",
                                  value=sessions.opened)
        yield CounterMetricFamily("kandian_relay_bytes_held", "Media bytes not passed to a paused player",
                                  value=p.relay_stats.bytes_held)
    cm = getattr(p, "cloudmonitor_stats", None)
    if cm is not None and "cloudmonitor" in p.factories:
        yield _counter("kandian_cloudmonitor_requests", "spec/002 requests, by endpoint", ["endpoint"],
                       {(k,): v for k, v in cm.requests.items()})
        yield _counter("kandian_cloudmonitor_answers", "spec/002 answers, by err_code", ["err_code"],
                       {(str(k),): v for k, v in cm.answers.items()})


def _ftp_metrics(p):
    """The FTP listener (kandian.ftp): logins, transfers, bytes, refusals."""
    ftp = p.ftp_stats
    factory = p.factories.get("ftp")
    realm = getattr(factory, "realm", None)
    if realm is not None:
        yield GaugeMetricFamily("kandian_ftp_sessions", "Logged-in FTP sessions on this node",
                                value=realm.open_sessions())
    yield _counter("kandian_ftp_logins", "FTP logins, by outcome", ["outcome"],
                   {(k,): v for k, v in ftp.logins.items()})
    yield _counter("kandian_ftp_transfers", "FTP transfers, by direction (in: STOR, out: RETR), area and outcome",
                   ["direction", "area", "outcome"], dict(ftp.transfers))
    yield _counter("kandian_ftp_bytes", "Bytes over FTP data connections, by direction", ["direction"],
                   {("in",): ftp.bytes_in, ("out",): ftp.bytes_out})
    ports = getattr(factory, "ports", None)
    yield _counter("kandian_ftp_refused", "FTP input refused, by cause", ["cause"],
                   {("data_from_another_address",): ftp.foreign_data, ("line_too_long",): ftp.lines_too_long,
                    ("no_passive_port",): getattr(ports, "exhausted", 0), ("internal_error",): ftp.internal_errors})
    yield CounterMetricFamily("kandian_ftp_passive_waits", "PASV/EPSV that waited for a passive port to free",
                              value=getattr(ports, "waited", 0))
def _group_metrics(p):
    """The province's exchanges with its group platform; the group role's answers and refusals."""
    group = getattr(p, "group_stats", None)
    if group is not None:
        yield _counter("kandian_group_exchanges", "Requests to the group platform (§6), by message and Result"
                       " (unavailable: no usable answer)", ["message", "result"],
                       {(root, result): v for (root, result), v in group.exchanges.items()})
    role = getattr(p, "group_role_stats", None)
    if role is not None and "group_role" in p.factories:
        yield _counter("kandian_group_role_answers", "Requests answered as the group platform (§5, §6),"
                       " by message and Result", ["message", "result"],
                       {(root, str(result)): v for (root, result), v in role.answers.items()})
        yield _counter("kandian_group_role_bad_input", "Requests refused before the group platform looked"
                       " at them, by reason", ["reason"], {(k,): v for k, v in role.bad_input.items()})
    soap = getattr(p, "group_soap", None)
    if soap is not None:
        yield _counter("kandian_group_soap_requests", "§9 SOAP requests answered, by operation and Result",
                       ["operation", "result"], {(op, str(result)): v for (op, result), v in soap.requests.items()})
        yield _counter("kandian_group_soap_faults", "§9 SOAP faults, by faultcode", ["faultcode"],
                       {(code,): v for code, v in soap.faults.items()})


def _onenet_metrics(p):
    """The device-cloud video API of spec/001: answers by errno, commands by cmd_status, failed key checks."""
    stats = getattr(p, "onenet_stats", None)
    if stats is None or "onenet" not in p.factories:
        return
    yield CounterMetricFamily("kandian_onenet_requests", "spec/001 API requests", value=stats.api.requests)
    yield _counter("kandian_onenet_answers", "spec/001 API answers, by errno (0: success)", ["errno"],
                   {(str(errno),): v for errno, v in stats.api.answers.items()})
    yield _counter("kandian_onenet_commands", "spec/001 commands (§3.1), by cmd_status", ["cmd_status"],
                   {(str(status),): v for status, v in enumerate(stats.commands.by_status)})
    yield CounterMetricFamily("kandian_onenet_key_failures", "api-keys that were no key (unknown or none)",
                              value=p.core.key_auth.failures)


def _listener_metrics(p):
    """Connection caps and refusals (kandian.limits), HTTP request deadlines (kandian.web)."""
    caps = getattr(p, "listener_limits", None) or {}
    if not caps:
        return
    open_ = GaugeMetricFamily("kandian_connections", "Open connections, by listener", labels=["listener"])
    cap = GaugeMetricFamily("kandian_connections_max", "Connection cap (max_connections, after the"
                            " open-file budget), by listener", labels=["listener"])
    for name, limit in caps.items():
        open_.add_metric([name], limit.open)
        cap.add_metric([name], limit.max_connections)
    yield open_
    yield cap
    yield _counter("kandian_connections_refused", "Connections refused at accept, by listener and reason"
                   " (total: at max_connections; per_address: at max_connections_per_address)",
                   ["listener", "reason"],
                   {(name, reason): v for name, limit in caps.items() for reason, v in limit.refused.items()})
    yield _counter("kandian_http_request_timeouts", "HTTP requests not complete within request_timeout"
                   " (answered 408, closed), by listener", ["listener"],
                   {(name,): limit.request_timeouts for name, limit in caps.items()
                    if name in ("register", "mcu", "admin", "portal", "group_role")})
    if p.open_files is not None:
        yield GaugeMetricFamily("kandian_open_files_limit", "The open-file limit the caps are planned in",
                                value=p.open_files)


def sms_metrics(client):
    """The SMGP client's counters (kandian.sms.client.SmgpStats)."""
    stats = client.stats
    yield GaugeMetricFamily("kandian_sms_gateway_connected", "1 while logged in to the SMGP gateway",
                            value=int(client.connected))
    yield GaugeMetricFamily("kandian_sms_queued", "Message parts waiting for the window or the rate",
                            value=client.queued)
    yield CounterMetricFamily("kandian_sms_connects", "Connection attempts to the SMGP gateway", value=stats.connects)
    yield _counter("kandian_sms_logins", "Login answers of the SMGP gateway, by Status (timeout: none)",
                   ["status"], {(str(k),): v for k, v in stats.logins.items()})
    yield CounterMetricFamily("kandian_sms_submits", "Submit PDUs sent", value=stats.submitted)
    yield _counter("kandian_sms_submit_responses", "Submit_Resp received, by Status", ["status"],
                   {(str(k),): v for k, v in stats.submit_status.items()})
    yield CounterMetricFamily("kandian_sms_submit_timeouts", "Submits the gateway did not answer in time",
                              value=stats.submit_timeouts)
    yield _counter("kandian_sms_reports", "Status reports received, by stat", ["stat"],
                   {(k,): v for k, v in stats.reports.items()})
    yield CounterMetricFamily("kandian_sms_report_failures", "Status reports whose handling failed (redelivery asked)",
                              value=stats.report_failures)
    yield _counter("kandian_sms_bad_input", "Bad input from the SMGP gateway, by reason", ["reason"],
                   {(k,): v for k, v in stats.bad_input.items()})
    yield _counter("kandian_sms_links_closed", "Links to the SMGP gateway kandian closed, by why", ["why"],
                   {(k,): v for k, v in stats.links_closed.items()})


def _sms_metrics(p):
    """The SMS outbox (kandian.core.outbox), its sender (kandian.sms.sender), alarm SMS and alarm pages."""
    outbox = getattr(p, "outbox", None)
    if outbox is None:
        return
    yield _counter("kandian_sms_outbox_queued", "SMS committed to the outbox by this node, by kind", ["kind"],
                   {(k,): v for k, v in outbox.queued.items()})
    yield _counter("kandian_sms_outbox_outcomes", "SMS attempts' outcomes recorded by this node (submitted, retry,"
                   " failed, expired)", ["outcome"], {(k,): v for k, v in outbox.outcomes.items()})
    yield GaugeMetricFamily("kandian_sms_outbox_unrecorded", "SMS outcomes and reports waiting to be stored",
                            value=outbox.unrecorded)
    sender = getattr(p, "sms_sender", None)
    if sender is not None:
        yield GaugeMetricFamily("kandian_sms_outbox_in_flight", "SMS handed to the gateway client, not yet answered",
                                value=sender.stats.in_flight)
        yield _counter("kandian_sms_outbox_refused", "Submits not acknowledged, by what the outbox did and the"
                       " cause (a Status code, unavailable, unsendable, error)", ["outcome", "cause"],
                       dict(sender.stats.outcomes))
    alarm_sms = getattr(p.core, "alarm_sms", None)
    if alarm_sms is not None:
        yield CounterMetricFamily("kandian_alarm_sms_queued", "Alarm SMS queued", value=alarm_sms.queued)
        yield _counter("kandian_alarm_sms_skipped", "Stored alarms that sent no SMS, by reason", ["reason"],
                       {(k,): v for k, v in alarm_sms.skipped.items()})
    pages = getattr(p, "alarm_pages", None)
    if pages is not None:
        yield _counter("kandian_alarm_page_answers", "Signed alarm page requests, by resource and HTTP status",
                       ["resource", "status"],
                       {(what, str(code)): v for (what, code), v in pages.stats.answers.items()})


def _media_metrics(p):
    """Live HLS packagers, the recorder and stream proxies (kandian.media, docs/media.md)."""
    live = getattr(p, "live", None)
    if live is not None:
        s = live.stats
        yield GaugeMetricFamily("kandian_live_streams", "Live HLS packagers starting or running", value=live.running)
        yield CounterMetricFamily("kandian_live_started", "Live HLS packagers started", value=s.started)
        yield CounterMetricFamily("kandian_live_idle_stopped", "Live HLS packagers stopped after their last viewer",
                                  value=s.idle_stopped)
        yield CounterMetricFamily("kandian_live_start_waits", "Live HLS packagers that waited for a start slot",
                                  value=s.start_waits)
        yield _counter("kandian_live_ended", "Live HLS packagers ended, by state", ["state"],
                       {(k,): v for k, v in s.ended.items()})
        yield _counter("kandian_media_processes", "ffmpeg children of the live packagers, by event", ["event"],
                       {("started",): s.process.started, ("crashed",): s.process.crashes,
                        ("killed",): s.process.killed, ("failed_start",): s.process.failed_starts})
        firsts = s.first_segment_seconds
        yield GaugeMetricFamily("kandian_live_first_segment_seconds",
                                "Mean time from a packager's start to its first segment (last 100 starts)",
                                value=sum(firsts) / len(firsts) if firsts else 0.0)
        refused = getattr(p, "live_stats", None)
        if refused is not None:
            yield CounterMetricFamily("kandian_live_requests", "Live HLS requests", value=refused.requests)
            yield _counter("kandian_live_refusals", "Live HLS requests refused, by error code", ["error"],
                           {(k,): v for k, v in refused.refused.items()})
    recorder = getattr(p, "recorder", None)
    if recorder is not None:
        s = recorder.stats
        yield GaugeMetricFamily("kandian_recordings_active", "Channels being recorded (ffmpeg running)",
                                value=recorder.active)
        yield CounterMetricFamily("kandian_recording_runs", "Recorder ffmpeg runs begun (a run is a run_id)",
                                  value=s.runs)
        yield CounterMetricFamily("kandian_recording_pieces", "Recorded pieces closed (indexed, complete)",
                                  value=s.pieces)
        yield CounterMetricFamily("kandian_recording_failures",
                                  "Recordings stopped by a full disk or a write error (an exception row each)",
                                  value=s.failures)
        yield _counter("kandian_recording_processes", "ffmpeg children of the recorder, by event", ["event"],
                       {("started",): s.process.started, ("crashed",): s.process.crashes,
                        ("killed",): s.process.killed, ("failed_start",): s.process.failed_starts})
    recordings = getattr(getattr(p, "core", None), "recordings", None)
    if recordings is not None:
        yield CounterMetricFamily("kandian_recordings_purged", "Recorded pieces deleted by retention",
                                  value=recordings.purged)
    retention = getattr(getattr(p, "core", None), "file_retention", None)
    if retention is not None:
        yield CounterMetricFamily("kandian_files_purged",
                                  "Pictures and device logs deleted by [files] retention_days", value=retention.purged)
    proxies = getattr(p, "proxies", None)
    if proxies is not None:
        yield GaugeMetricFamily("kandian_stream_proxies", "Stream proxy channels known", value=len(proxies.urls))
        yield GaugeMetricFamily("kandian_stream_proxies_online", "Stream proxy channels whose source answers",
                                value=len(proxies.answering))


def _counter(name: str, documentation: str, labels: list[str], values: dict) -> CounterMetricFamily:
    family = CounterMetricFamily(name, documentation, labels=labels)
    for label_values, value in sorted(values.items()):
        family.add_metric(list(label_values), value)
    return family


class Metrics(resource.Resource):
    isLeaf = True

    def __init__(self, platform):
        super().__init__()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(PlatformCollector(platform))

    def render_GET(self, request):
        request.setHeader(b"content-type", CONTENT_TYPE_LATEST.encode("ascii"))
        return generate_latest(self.registry)

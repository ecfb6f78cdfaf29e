"""The platform core: what kandian does, whatever the interface asking.

``Core`` holds one object per domain — accounts and sessions
(:mod:`.accounts`), bindings (:mod:`.bindings`), play (:mod:`.play`: the §15
routes, the play-URL format, tokens, relay authorization), devices
(:mod:`.devices`: typed commands through an ``IDeviceRouter``, the device
login), alarms (:mod:`.alarms`), the keys derived from the platform's
secret (:mod:`.keys`: FTP passwords, signed URLs), the files devices
upload and fetch (:mod:`.files`: FTP logins, quota, the layout under
``[files] root``), the firmware catalogue (:mod:`.firmware`), upgrade
campaigns (:mod:`.upgrades`) and device logs (:mod:`.devlogs`), the
province's standing with its group platform (:mod:`.group`) and, on a node
that is the group platform itself, that role (:mod:`.grouprole`), SMS
(:mod:`.outbox`, the durable outbox; :mod:`.notify`, alarm and DevKey
messages), the media layer's stream sources and live HLS access
(:mod:`.media`, :mod:`.proxies`), platform recording (:mod:`.schedules`,
:mod:`.recordings`), the device-cloud video API of spec/001
(:mod:`.devicekeys`, :mod:`.profiles`, :mod:`.apifiles`, :mod:`.alarmbox`,
:mod:`.apiplay`, :mod:`.apivideos`), and for the portal and REST API
(:mod:`.apiauth` tokens and operators, :mod:`.access`, :mod:`.fleet`,
:mod:`.useradmin`, :mod:`.fwadmin`,
:mod:`.commands`, :mod:`.stats`) — built once by ``service.py`` over the
store and handed to every interface.  The core raises
:mod:`kandian.core.errors`; it imports no listener, spyne, HTTP or wire code.
See docs/architecture.md.
"""

from __future__ import annotations

import attrs


@attrs.define
class Core:
    """The domain objects every interface is built on (``service.py`` builds them)."""

    accounts: object
    bindings: object
    play: object
    devices: object
    alarms: object
    keys: object
    files: object
    firmware: object = None
    upgrades: object = None
    devlogs: object = None
    file_retention: object = None  # .retention.FileRetention
    # the portal and REST API (None where a tool builds a core without them)
    operators: object = None
    api_auth: object = None
    access: object = None
    fleet: object = None
    user_admin: object = None
    commands: object = None
    statistics: object = None
    group: object = None  # .group.GroupLink
    group_role: object = None  # .grouprole.GroupRole
    # the compatibility APIs
    apikeys: object = None  # .apikeys.ApiKeys
    play_sessions: object = None  # .playsessions.PlaySessions
    integration: object = None  # .integration.Integration
    outbox: object = None  # the SMS outbox (core.outbox.Outbox)
    alarm_links: object = None  # signed links to alarm pages (core.notify.AlarmLinks)
    alarm_sms: object = None  # the alarm notifier for SMS (core.notify.AlarmSms)
    devkeys: object = None  # §4.17 DevKey by SMS (core.notify.DevKeySms)
    firmware_admin: object = None  # the portal's firmware, campaigns, device logs, DevKey SMS (.fwadmin)
    media: object = None  # .media.Media (stream sources for the media layer, live HLS access)
    proxies: object = None  # .proxies.Proxies (stream proxy channels)
    schedules: object = None  # .schedules.Schedules
    recordings: object = None  # .recordings.Recordings
    # the device-cloud video API of spec/001 ([onenet])
    key_auth: object = None  # .devicekeys.KeyAuth
    profiles: object = None  # .profiles.DeviceProfiles
    api_files: object = None  # .apifiles.ApiFiles
    alarm_box: object = None  # .alarmbox.AlarmInbox
    api_play: object = None  # .apiplay.ApiPlay
    api_videos: object = None  # .apivideos.ApiVideos

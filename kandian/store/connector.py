"""The store as one connector with a component per table family.

Buildbot's ``master.db`` shape: ``Store(db, node)`` hangs one component per
table family off one object — ``store.users``, ``store.devices``,
``store.sessions`` … — each turning domain calls into parameterized SQL and
answering rows (named tuples) or raising; none knows a wire Result code.
:class:`kandian.store.fake.FakeStore` implements the same components in
memory, and ``tests/test_store_contract.py`` runs one contract suite against
both.  Only the core, ``service.py`` and ``kandianctl`` use the store.
"""

from __future__ import annotations


class Store:
    """The components over one :class:`kandian.store.service.Database`."""

    def __init__(self, db, node: str = "local"):
        from .alarmbox import AlarmBoxStore
        from .alarms import AlarmStore
        from .apifiles import ApiFileStore
        from .apikeys import ApiKeyStore
        from .bindings import Bindings
        from .devices import DeviceStore
        from .devlogs import DeviceLogStore
        from .files import FileStore
        from .firmware import FirmwareStore
        from .fleet import Fleet
        from .group import GroupStore
        from .grouprole import GroupRoleStore
        from .integration import IntegrationStore
        from .links import LinkStore
        from .operators import ApiTokens, Operators
        from .outbox import OutboxStore
        from .profiles import ProfileStore
        from .proxies import ProxyStore
        from .recordings import RecordingStore
        from .relay import RelayStore
        from .secrets import SecretStore
        from .sessions import Sessions
        from .sms_requests import SmsRequests
        from .stats import Stats
        from .tokens import TokenStore
        from .upgrades import UpgradeStore
        from .user_admin import UserAdmin
        from .users import Users

        self.db = db
        self.node = node
        self.users = Users(db)
        self.sessions = Sessions(db)
        self.bindings = Bindings(db)
        self.sms_requests = SmsRequests(db)
        self.devices = DeviceStore(db)
        self.links = LinkStore(db, node=node)
        self.tokens = TokenStore(db)
        self.relay = RelayStore(db)
        self.alarms = AlarmStore(db)
        self.firmware = FirmwareStore(db)
        self.secrets = SecretStore(db)
        self.upgrades = UpgradeStore(db, node=node)
        self.devlogs = DeviceLogStore(db, node=node)
        self.files = FileStore(db)
        self.operators = Operators(db)
        self.api_tokens = ApiTokens(db)
        self.fleet = Fleet(db)
        self.user_admin = UserAdmin(db)
        self.stats = Stats(db)
        self.group = GroupStore(db)
        self.group_role = GroupRoleStore(db)
        self.apikeys = ApiKeyStore(db)
        self.integration = IntegrationStore(db)
        self.outbox = OutboxStore(db)
        self.proxies = ProxyStore(db, node=node)
        self.recordings = RecordingStore(db)
        # the device-cloud video API (spec/001)
        self.profiles = ProfileStore(db)
        self.api_files = ApiFileStore(db)
        self.alarm_box = AlarmBoxStore(db)

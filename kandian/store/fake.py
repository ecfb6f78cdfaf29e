"""An in-memory store with the components of :class:`kandian.store.connector.Store`.

For the core's unit tests (with ``task.Clock``) and anyone building on the
core without PostgreSQL — shipped in the package, as Buildbot ships
``fakedb``.  ``tests/test_store_contract*.py`` hold both stores to one
contract, so a behaviour of the fake is a behaviour of the real store.
Components answer already-fired Deferreds, like a database that is never
slow.
"""

from __future__ import annotations

from .fakes.alarmbox import FakeAlarmBox
from .fakes.alarms import FakeAlarms
from .fakes.api_tokens import FakeApiTokens
from .fakes.apifiles import FakeApiFiles
from .fakes.apikeys import FakeApiKeys
from .fakes.bindings import FakeBindings
from .fakes.devices import FakeDevices
from .fakes.devlogs import FakeDeviceLogs
from .fakes.files import FakeFiles
from .fakes.firmware import FakeFirmware
from .fakes.fleet import FakeFleet
from .fakes.group import FakeGroup
from .fakes.grouprole import FakeGroupRole
from .fakes.integration import FakeIntegration
from .fakes.links import FakeLinks
from .fakes.operators import FakeOperators
from .fakes.outbox import FakeOutbox
from .fakes.profiles import FakeProfiles
from .fakes.proxies import FakeProxies
from .fakes.recordings import FakeRecordings
from .fakes.relay import FakeRelay
from .fakes.secrets import FakeSecrets
from .fakes.sessions import FakeSessions
from .fakes.sms_requests import FakeSmsRequests
from .fakes.stats import FakeStats
from .fakes.tokens import FakeTokens
from .fakes.upgrades import FakeUpgrades
from .fakes.user_admin import FakeUserAdmin
from .fakes.users import FakeUsers


class FakeStore:
    def __init__(self, node: str = "local"):
        self.node = node
        # one fake component per component of the real Store; each lives in
        # kandian/store/fakes/<component>.py and shares this object's tables
        self.tables: dict[str, dict] = {}
        self.devices = FakeDevices(self)
        self.links = FakeLinks(self)
        self.alarms = FakeAlarms(self)
        self.firmware = FakeFirmware(self)
        self.tokens = FakeTokens(self)
        self.relay = FakeRelay(self)
        self.users = FakeUsers(self)
        self.sessions = FakeSessions(self)
        self.bindings = FakeBindings(self)
        self.sms_requests = FakeSmsRequests(self)
        self.secrets = FakeSecrets(self)
        self.upgrades = FakeUpgrades(self)
        self.devlogs = FakeDeviceLogs(self)
        self.files = FakeFiles(self)
        self.operators = FakeOperators(self)
        self.api_tokens = FakeApiTokens(self)
        self.fleet = FakeFleet(self)
        self.user_admin = FakeUserAdmin(self)
        self.stats = FakeStats(self)
        self.group = FakeGroup(self)
        self.group_role = FakeGroupRole(self)
        self.apikeys = FakeApiKeys(self)
        self.integration = FakeIntegration(self)
        self.outbox = FakeOutbox(self)
        self.proxies = FakeProxies(self)
        self.recordings = FakeRecordings(self)
        self.profiles = FakeProfiles(self)
        self.api_files = FakeApiFiles(self)
        self.alarm_box = FakeAlarmBox(self)

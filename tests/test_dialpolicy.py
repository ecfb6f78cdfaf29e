"""kandian.dialpolicy: which device-reported addresses the platform may dial
(issue 10, SSRF; PRODUCT.md "RTSP relay")."""

import ipaddress

from hypothesis import given, settings, strategies as st
from twisted.trial import unittest

from kandian import config
from kandian.dialpolicy import DialPolicy, ip_literal, may_dial, networks


class DialPolicyTests(unittest.TestCase):
    def test_names_are_never_dialled(self):
        for host in ["localhost", "cam.example", "127.0.0.1.nip.io", "", None, "0x7f000001", "2130706433",
                     "127.1", "::1%lo"]:
            self.assertFalse(may_dial(host, "127.0.0.1", allow_networks=networks("0.0.0.0/0,::/0")), host)

    def test_only_the_devices_own_address_turn_relays_and_allowed_networks(self):
        turn = {ipaddress.ip_address("198.51.100.9")}
        allow = networks("10.0.0.0/8, 2001:db8::/32")
        self.assertTrue(may_dial("203.0.113.7", "203.0.113.7", turn, allow))
        self.assertTrue(may_dial("::ffff:203.0.113.7", "203.0.113.7", turn, allow))
        self.assertTrue(may_dial("198.51.100.9", "203.0.113.7", turn, allow))
        self.assertTrue(may_dial("10.1.2.3", "203.0.113.7", turn, allow))
        self.assertTrue(may_dial("2001:db8::5", None, turn, allow))
        for host in ["127.0.0.1", "192.168.1.64", "203.0.113.8", "169.254.169.254", "::1"]:
            self.assertFalse(may_dial(host, "203.0.113.7", turn, allow), host)
        for host in ["0.0.0.0", "::", "224.0.0.1", "255.255.255.255"]:
            self.assertFalse(may_dial(host, host, turn, networks("0.0.0.0/0, ::/0")), host)
        self.assertFalse(may_dial("203.0.113.7", None))  # offline: no own address

    def test_bad_cidr_is_a_config_error(self):
        with self.assertRaises(ValueError):
            networks("10.0.0.0/8, intranet")

    @given(st.text(max_size=40))
    @settings(max_examples=300)
    def test_property_nothing_but_an_ip_literal_is_admitted(self, host):
        admitted = may_dial(host, host, allow_networks=networks("0.0.0.0/0, ::/0"))
        if admitted:
            self.assertIsNotNone(ip_literal(host))

    @given(st.ip_addresses(), st.ip_addresses())
    @settings(max_examples=300)
    def test_property_without_allowances_only_the_peer_is_admitted(self, host, peer):
        admitted = DialPolicy()(str(host), str(peer))
        address = ip_literal(str(host))  # IPv4-mapped IPv6 as IPv4
        self.assertEqual(admitted, address == ip_literal(str(peer))
                         and not (address.is_unspecified or address.is_multicast or str(address) == "255.255.255.255"))

    def test_an_ipv4_mapped_address_is_judged_as_ipv4(self):
        self.assertFalse(may_dial("::ffff:0.0.0.0", "0.0.0.0"))
        self.assertFalse(may_dial("::ffff:127.0.0.1", "203.0.113.7"))
        self.assertTrue(may_dial("::ffff:203.0.113.7", "203.0.113.7"))



    def test_from_config(self):
        c = config.parse("[register]\nturn_address = 198.51.100.9:3478\nbackup_turn_address = turn.example:3478\n"
                         "[rtsp]\nupstream_allow = 10.0.0.0/8\n")
        policy = DialPolicy.from_config(c)
        self.assertEqual(policy.turn_ips, frozenset({ipaddress.ip_address("198.51.100.9")}))
        self.assertTrue(policy("10.9.9.9", None))
        self.assertTrue(policy("198.51.100.9", None))
        self.assertFalse(policy("192.168.0.1", None))
        with self.assertRaises(config.ConfigError):
            config.parse("[rtsp]\nupstream_allow = lab\n")

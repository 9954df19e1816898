"""OMEMO (XEP-0384) end to end with slixmpp-omemo: device lists and bundles
on PEP, a message encrypted by one client and decrypted by the other.

slixmpp-omemo 2.x publishes for both protocol versions, ``urn:xmpp:omemo:2``
(twomemo) and ``eu.siacs.conversations.axolotl`` (oldmemo), but encrypts
message bodies with oldmemo only (its twomemo needs a XEP-0420 plugin that
slixmpp does not have): the message checked here is oldmemo, the device
lists and bundles checked are both.
"""

import asyncio
import json
import os

from omemo.storage import Just, Nothing, Storage
from slixmpp import JID
from slixmpp.plugins import register_plugin
from slixmpp_omemo import XEP_0384

import interop
from interop import step
from pep_common import online, request, result_items, settle

TWOMEMO_DEVICES = "urn:xmpp:omemo:2:devices"
TWOMEMO_BUNDLES = "urn:xmpp:omemo:2:bundles"
OLDMEMO_DEVICES = "eu.siacs.conversations.axolotl.devicelist"
OLDMEMO_NS = "eu.siacs.conversations.axolotl"
PLAINTEXT = "hello omemo"


class JsonStorage(Storage):
    """The OMEMO library's key/value store, one JSON file per client."""

    def __init__(self, path):
        super().__init__()
        self.path = path
        self.data = {}
        if os.path.exists(path):
            with open(path, encoding="utf8") as f:
                self.data = json.load(f)

    def _save(self):
        with open(self.path, "w", encoding="utf8") as f:
            json.dump(self.data, f)

    async def _load(self, key):
        return Just(self.data[key]) if key in self.data else Nothing()

    async def _store(self, key, value):
        self.data[key] = value
        self._save()

    async def _delete(self, key):
        self.data.pop(key, None)
        self._save()


class TestOmemo(XEP_0384):
    """slixmpp-omemo with a JSON store and blind trust before verification
    (every device of a contact is trusted on first sight)."""

    default_config = {"fallback_message": "This message is OMEMO encrypted.", "json_file": None}

    @property
    def storage(self):
        if getattr(self, "_test_storage", None) is None:
            self._test_storage = JsonStorage(self.json_file)
        return self._test_storage

    @property
    def _btbv_enabled(self):
        return True

    async def _devices_blindly_trusted(self, blindly_trusted, identifier):
        pass

    async def _prompt_manual_trust(self, manually_trusted, identifier):
        raise RuntimeError(f"manual trust needed for {sorted(d.bare_jid for d in manually_trusted)}")


register_plugin(TestOmemo)


def omemo_client(ctx, role, resource):
    c = ctx.account(role, resource, ("xep_0004", "xep_0030", "xep_0060", "xep_0115", "xep_0163"))
    c.register_plugin(
        "xep_0384",
        {"json_file": os.path.join(ctx.omemo_dir, f"{resource}.json")},
    )
    return c


# Attempts at starting a client's OMEMO: ejabberd 23.01 sometimes aborts one
# of the publishes a new device makes at once (a mnesia transaction
# 'cyclic' abort, answered with internal-server-error); the plugin then
# fails for good, and a client started again (same store) goes on.
OMEMO_ATTEMPTS = 2


async def omemo_ready(ctx, r, role, name):
    """A client of ``role``, online, whose OMEMO session manager is built
    (keys made, device list and bundle published): the check ``name``."""
    limit = ctx.step_timeout * 3
    failures = []
    for attempt in range(OMEMO_ATTEMPTS):
        c = omemo_client(ctx, role, f"{role[0]}-omemo")
        await online(ctx, r, (c,), f"{role}_online")
        try:
            # Built in the background from session start on; waiting for it
            # directly also says why it failed.
            manager = await asyncio.wait_for(c["xep_0384"].get_session_manager(), limit)
            own = await manager.get_own_device_information()
        except asyncio.TimeoutError:
            failures.append(f"not ready after {limit:.0f} s")
        except Exception as e:  # noqa: BLE001 - the check's detail
            failures.append(f"{type(e).__name__}: {e}")
        else:
            r.check(name, True, f"{c.boundjid.bare}: device {own[0].device_id} made and published")
            r.fact(f"{role}_device_id", own[0].device_id)
            if failures:
                r.fact(f"{role}_omemo_start_failures", failures)
            return c
        if attempt + 1 < OMEMO_ATTEMPTS:
            await c.logout()
    r.require(name, False, f"{role}: slixmpp-omemo did not start: {failures}")
    return None


async def scenario_omemo(ctx, r, args):
    """Two clients publish device lists and bundles; alice encrypts
    "hello omemo" for bob, bob decrypts it; then bob answers."""
    # One after the other, each before they are contacts.
    a = await omemo_ready(ctx, r, "alice", "alice_omemo_ready")
    b = await omemo_ready(ctx, r, "bob", "bob_omemo_ready")
    await interop.befriend(r, a, b, "setup_")
    await settle(r, "settled", (a, b), ctx.step_timeout)
    alice, bob = a.boundjid.bare, b.boundjid.bare
    # The plugin fetched each contact's device list when the subscription
    # changed, maybe before it could read it: fetched again now, as a
    # client does before encrypting to a new contact.
    for c, other in ((a, bob), (b, alice)):
        await step(
            r,
            "device_lists_fetched",
            c["xep_0384"].refresh_device_lists({JID(other)}, force_download=True),
            "device list download",
        )
    r.check("device_lists_fetched", True, "each downloaded the other's device lists (XEP-0384, device list)")

    for node in (TWOMEMO_DEVICES, OLDMEMO_DEVICES):
        got = await step(r, "device_lists_readable", request(a, a["xep_0060"].get_items(bob, node)), f"{node} of bob")
        r.check(
            "device_lists_readable",
            got["type"] == "result" and len(result_items(got)) == 1,
            f"bob's {node} has one item, readable by a contact (XEP-0384, device list); got {got}",
        )
    got = await step(r, "bundle_readable", request(a, a["xep_0060"].get_items(bob, TWOMEMO_BUNDLES)), "twomemo bundles of bob")
    r.check(
        "bundle_readable",
        got["type"] == "result" and len(result_items(got)) >= 1,
        f"bob's twomemo bundle node has his bundle, item id = device id (XEP-0384, bundle); got {got}",
    )

    async def exchange(name, sender, receiver, to, text):
        mark = receiver.inbox.mark()
        msg = sender.make_message(mto=to, mtype="chat")
        msg["body"] = text
        encrypted, errors = await sender["xep_0384"].encrypt_message(msg, JID(to))
        r.require(
            name + "_encrypted",
            encrypted is not None and not errors,
            f"{sender.boundjid.bare} encrypts for {to} (bundle fetched from PEP); errors {errors}",
        )
        r.fact(name + "_namespaces", sorted(sender["xep_0384"].is_encrypted(encrypted)))
        encrypted.send()

        # python-omemo may first send an empty OMEMO message (no body) to
        # complete a session built from a key exchange: not the one sent.
        def omemo_message(m):
            return m["type"] != "error" and bool(m["body"]) and bool(receiver["xep_0384"].is_encrypted(m))

        got = await step(
            r,
            name + "_decrypted",
            receiver.inbox.wait("message", omemo_message, "an OMEMO message", since=mark),
            "the encrypted message is delivered",
        )
        r.check(
            name + "_no_plaintext_on_wire",
            text not in str(got),
            f"the stanza as delivered does not contain the plaintext; got {got}",
        )
        try:
            plain, device = await receiver["xep_0384"].decrypt_message(got)
        except Exception as e:  # noqa: BLE001 - the check's detail
            r.require(name + "_decrypted", False, f"decryption failed: {type(e).__name__}: {e}")
        r.check(
            name + "_decrypted",
            plain["body"] == text and device.bare_jid == sender.boundjid.bare,
            f"{receiver.boundjid.bare} decrypts {text!r} from {sender.boundjid.bare}; got {plain['body']!r} "
            f"from {device.bare_jid} device {device.device_id}",
        )

    await exchange("alice_to_bob", a, b, bob, PLAINTEXT)
    await exchange("bob_to_alice", b, a, alice, PLAINTEXT + " back")


SCENARIOS = {"omemo": scenario_omemo}

__all__ = ["OLDMEMO_NS"]

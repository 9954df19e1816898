"""What a client keeps in its account: XEP-0084 avatars, XEP-0402 bookmarks
(and the XEP-0048 view of them), XEP-0049 private storage, XEP-0054
vCards, XEP-0153 vCard avatar hashes and XEP-0172 nicknames."""

import base64
import hashlib

from slixmpp.xmlstream import ET

import interop
from interop import step
from pep_common import (
    PUBSUB_NS,
    TEST_NS,
    online,
    publish_item,
    published,
    request,
    result_items,
    settle,
    text_of,
)
from pep_pubsub import PUBSUB_PLUGINS

AVATAR_DATA = "urn:xmpp:avatar:data"
AVATAR_METADATA = "urn:xmpp:avatar:metadata"
BOOKMARKS = "urn:xmpp:bookmarks:1"
NICK_NS = "http://jabber.org/protocol/nick"
VCARD_NS = "vcard-temp"

# A 1x1 PNG: small, and a real image.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


async def friends(ctx, r, suffix, plugins):
    """alice and bob online with a mutual subscription."""
    a = ctx.account("alice", "a-" + suffix, PUBSUB_PLUGINS + plugins)
    b = ctx.account("bob", "b-" + suffix, PUBSUB_PLUGINS + plugins)
    await online(ctx, r, (a, b))
    await interop.befriend(r, a, b, "setup_")
    await settle(r, "settled", (a, b), ctx.step_timeout)
    return a, b


async def scenario_avatar(ctx, r, args):
    """XEP-0084: data then metadata published; a contact gets the metadata
    event and fetches both."""
    a, b = await friends(ctx, r, "avatar", ("xep_0084",))
    alice = a.boundjid.bare
    avatar = a.plugin["xep_0084"]
    avatar_id = avatar.generate_id(PNG)
    got = await step(r, "data_published", request(a, avatar.publish_avatar(PNG, timeout=ctx.step_timeout)), "avatar data publish")
    r.require("data_published", got["type"] == "result", f"publish to {AVATAR_DATA} (XEP-0084); got {got}")
    mb = b.inbox.mark()
    # Strings: slixmpp 1.17 cannot serialise int attributes (the iq is
    # never sent).
    info = {"id": avatar_id, "type": "image/png", "bytes": str(len(PNG)), "width": "1", "height": "1"}
    got = await step(r, "metadata_published", request(a, avatar.publish_avatar_metadata(info, timeout=ctx.step_timeout)), "metadata publish")
    r.require("metadata_published", got["type"] == "result", f"publish to {AVATAR_METADATA} (XEP-0084); got {got}")
    got = await step(
        r,
        "contact_gets_metadata",
        b.inbox.wait("message", published(AVATAR_METADATA, avatar_id, alice), "avatar metadata event", since=mb),
        "XEP-0084: contacts with +notify get the metadata",
    )
    r.check("contact_gets_metadata", got is not None, f"bob got {got}")
    got = await step(r, "contact_gets_metadata_item", request(b, b.plugin["xep_0060"].get_items(alice, AVATAR_METADATA, max_items=1)), "metadata get")
    items = result_items(got)
    info_el = items[0][1].find(f"{{{AVATAR_METADATA}}}info") if items and items[0][1] is not None else None
    r.check(
        "contact_gets_metadata_item",
        info_el is not None and info_el.get("id") == avatar_id and info_el.get("bytes") == str(len(PNG)),
        f"the metadata item has <info id='{avatar_id}' bytes='{len(PNG)}'/> (XEP-0084); got {got}",
    )
    got = await step(r, "contact_gets_data", request(b, b.plugin["xep_0084"].retrieve_avatar(alice, avatar_id)), "data get")
    items = result_items(got)
    data = text_of(items[0][1]) if items else None
    r.check(
        "contact_gets_data",
        data is not None and base64.b64decode("".join(data.split())) == PNG,
        f"the data item '{avatar_id}' holds the image, base64 (XEP-0084); got {got}",
    )


def conference(name, nick):
    el = ET.Element(f"{{{BOOKMARKS}}}conference", {"name": name, "autojoin": "true"})
    nick_el = ET.SubElement(el, f"{{{BOOKMARKS}}}nick")
    nick_el.text = nick
    return el


async def add_bookmark(ctx, r, resource):
    """alice online, with one XEP-0402 bookmark added; (client, room)."""
    a = ctx.account("alice", resource, PUBSUB_PLUGINS + ("xep_0402", "xep_0048", "xep_0049"))
    await online(ctx, r, (a,))
    room = f"room-{a.boundjid.resource}@conference.{ctx.domain}"
    options = {
        "pubsub#persist_items": "true",
        "pubsub#max_items": "max",
        "pubsub#send_last_published_item": "never",
        "pubsub#access_model": "whitelist",
    }
    got = await publish_item(r, a, BOOKMARKS, room, conference("Test room", "alice-nick"), options, ctx.step_timeout)
    r.require(
        "bookmark_added",
        got["type"] == "result",
        f"publish of a <conference/> to {BOOKMARKS} with the publish-options of XEP-0402; got {got}",
    )
    return a, room


async def scenario_bookmarks(ctx, r, args):
    """XEP-0402: add a bookmark and retrieve it."""
    a, room = await add_bookmark(ctx, r, "a-bm")
    got = await step(r, "bookmarks_retrieved", request(a, a.plugin["xep_0060"].get_items(None, BOOKMARKS)), "bookmarks get")
    found = {i: p for i, p in result_items(got)}.get(room)
    r.check(
        "bookmarks_retrieved",
        found is not None
        and found.get("name") == "Test room"
        and found.get("autojoin") in ("true", "1")
        and text_of(found.find(f"{{{BOOKMARKS}}}nick")) == "alice-nick",
        f"the item '{room}' with name, autojoin and nick (XEP-0402); got {got}",
    )


async def scenario_bookmarks_compat(ctx, r, args):
    """XEP-0402: the XEP-0048 view through XEP-0049 private storage."""
    a, room = await add_bookmark(ctx, r, "a-bmc")
    got = await step(r, "legacy_view", request(a, a.plugin["xep_0048"].get_bookmarks(method="xep_0049")), "storage:bookmarks get")
    storage = got.xml.find("{jabber:iq:private}query/{storage:bookmarks}storage")
    jids = [c.get("jid") for c in storage.findall("{storage:bookmarks}conference")] if storage is not None else []
    r.check(
        "legacy_view",
        room in jids,
        f"XEP-0402 (compatibility): private storage shows the bookmark as XEP-0048 <storage/>; got {got}",
    )


async def scenario_private(ctx, r, args):
    """XEP-0049: store, retrieve, another namespace empty, not for others."""
    a = ctx.account("alice", "a-priv", ("xep_0049",))
    b = ctx.account("bob", "b-priv", ("xep_0049",))
    await online(ctx, r, (a, b))
    data = ET.Element(f"{{{TEST_NS}}}private")
    data.text = "kept for alice only"
    iq = a.make_iq_set()
    ET.SubElement(iq.xml, "{jabber:iq:private}query").append(data)
    got = await step(r, "private_stored", request(a, iq.send(timeout=ctx.step_timeout)), "private set")
    r.require("private_stored", got["type"] == "result", f"jabber:iq:private set: a result (XEP-0049); got {got}")

    async def get(c, ns, local, to=None):
        iq = c.make_iq_get(ito=to)
        ET.SubElement(ET.SubElement(iq.xml, "{jabber:iq:private}query"), f"{{{ns}}}{local}")
        return await request(c, iq.send(timeout=ctx.step_timeout))

    got = await step(r, "private_retrieved", get(a, TEST_NS, "private"), "private get")
    el = got.xml.find(f"{{jabber:iq:private}}query/{{{TEST_NS}}}private")
    r.check("private_retrieved", text_of(el) == "kept for alice only", f"the stored element comes back (XEP-0049); got {got}")
    got = await step(r, "other_namespace_empty", get(a, TEST_NS + ":other", "none"), "private get")
    el = got.xml.find(f"{{jabber:iq:private}}query/{{{TEST_NS}:other}}none")
    r.check(
        "other_namespace_empty",
        got["type"] == "result" and el is not None and len(el) == 0 and not (el.text or "").strip(),
        f"nothing stored: the empty element back (XEP-0049); got {got}",
    )
    got = await step(r, "not_for_others", get(b, TEST_NS, "private", to=a.boundjid.bare), "private get of another account")
    r.check("not_for_others", got["type"] == "error", f"another user gets an error, not the data (XEP-0049); got {got}")


async def scenario_vcard(ctx, r, args):
    """XEP-0054: set own vCard, get it back, another user gets it too."""
    a = ctx.account("alice", "a-vcard", ("xep_0054",))
    b = ctx.account("bob", "b-vcard", ("xep_0054",))
    await online(ctx, r, (a, b))
    vcard = a.plugin["xep_0054"].make_vcard()
    vcard["FN"] = "Alice Pep"
    vcard["NICKNAME"] = "alice-vcard"
    iq = a.make_iq_set()
    iq.append(vcard)
    got = await step(r, "vcard_set", request(a, iq.send(timeout=ctx.step_timeout)), "vCard set")
    r.require("vcard_set", got["type"] == "result", f"vCard set: a result (XEP-0054); got {got}")
    own = a.make_iq_get()
    own.enable("vcard_temp")
    got = await step(r, "own_vcard", request(a, own.send(timeout=ctx.step_timeout)), "own vCard get")
    r.check(
        "own_vcard",
        got["type"] == "result"
        and text_of(got.xml.find(f"{{{VCARD_NS}}}vCard/{{{VCARD_NS}}}FN")) == "Alice Pep"
        and text_of(got.xml.find(f"{{{VCARD_NS}}}vCard/{{{VCARD_NS}}}NICKNAME")) == "alice-vcard",
        f"the user's own vCard, FN and NICKNAME as set (XEP-0054); got {got}",
    )
    other = b.make_iq_get(ito=a.boundjid.bare)
    other.enable("vcard_temp")
    got = await step(r, "other_users_vcard", request(b, other.send(timeout=ctx.step_timeout)), "vCard get of alice")
    r.check(
        "other_users_vcard",
        got["type"] == "result" and text_of(got.xml.find(f"{{{VCARD_NS}}}vCard/{{{VCARD_NS}}}FN")) == "Alice Pep",
        f"another user's vCard, to the bare JID (XEP-0054); got {got}",
    )


async def scenario_vcard_avatar(ctx, r, args):
    """XEP-0153: the photo's SHA-1 in presence, matching the vCard."""
    a, b = await friends(ctx, r, "vavatar", ("xep_0054", "xep_0153"))
    mark = b.inbox.mark()
    digest = hashlib.sha1(PNG).hexdigest()
    await step(r, "photo_set", a.plugin["xep_0153"].set_avatar(avatar=PNG, mtype="image/png", timeout=ctx.step_timeout), "vCard avatar set")
    r.check("photo_set", True, "vCard with PHOTO stored (XEP-0153)")

    def with_hash(p):
        photo = p.xml.find("{vcard-temp:x:update}x/{vcard-temp:x:update}photo")
        return p["from"].bare == a.boundjid.bare and photo is not None and (photo.text or "") == digest

    got = await step(
        r,
        "contact_sees_hash",
        b.inbox.wait("presence", with_hash, f"presence of alice with photo {digest}", since=mark),
        "XEP-0153: the hash in presence after the photo changed",
    )
    r.check("contact_sees_hash", got is not None, f"bob got {got}")
    other = b.make_iq_get(ito=a.boundjid.bare)
    other.enable("vcard_temp")
    got = await step(r, "photo_matches_hash", request(b, other.send(timeout=ctx.step_timeout)), "vCard get of alice")
    binval = got["vcard_temp"]["PHOTO"]["BINVAL"] if got["type"] == "result" else None
    r.check(
        "photo_matches_hash",
        binval is not None and hashlib.sha1(binval).hexdigest() == digest,
        f"the vCard's PHOTO hashes to the advertised SHA-1 (XEP-0153); got {got}",
    )
    # XEP-0398: does the server also show the vCard photo as a PEP avatar?
    got = await request(b, b.plugin["xep_0060"].get_items(a.boundjid.bare, AVATAR_METADATA, timeout=ctx.step_timeout))
    r.fact("xep0398_metadata_from_vcard", [i for i, _ in result_items(got)] if got["type"] == "result" else str(got["error"]["condition"]))


async def scenario_nick(ctx, r, args):
    """XEP-0172: nick in a subscription request, and published on PEP."""
    a, b = await friends(ctx, r, "nick", ("xep_0172",))
    c = ctx.account("carol", "c-nick")
    await online(ctx, r, (c,), "carol_online")
    mark = c.inbox.mark()
    subscribe = a.make_presence(pto=ctx.jid(ctx.names["carol"]), ptype="subscribe")
    ET.SubElement(subscribe.xml, f"{{{NICK_NS}}}nick").text = "Alice Nick"
    subscribe.send()

    def nick_of(p):
        return text_of(p.xml.find(f"{{{NICK_NS}}}nick"))

    got = await step(
        r,
        "nick_in_subscribe",
        c.inbox.wait("presence", interop.presence_from(a.boundjid.bare, ptype="subscribe", bare=True), "subscribe from alice", since=mark),
        "XEP-0172: the nick travels with the subscription request",
    )
    r.check("nick_in_subscribe", nick_of(got) == "Alice Nick", f"<nick>Alice Nick</nick> in the subscribe; got {got}")
    mark = b.inbox.mark()
    got = await step(r, "nick_published", request(a, a.plugin["xep_0172"].publish_nick("Alice PEP")), "nick publish")
    r.require("nick_published", got["type"] == "result", f"publish to {NICK_NS} (XEP-0172); got {got}")
    got = await step(
        r,
        "contact_gets_nick",
        b.inbox.wait("message", published(NICK_NS, None, a.boundjid.bare), "nick event", since=mark),
        "XEP-0172: contacts with +notify get the nick",
    )
    items = got.xml.find("{http://jabber.org/protocol/pubsub#event}event/{http://jabber.org/protocol/pubsub#event}items")
    nick = items.find(f"{{http://jabber.org/protocol/pubsub#event}}item/{{{NICK_NS}}}nick") if items is not None else None
    r.check("contact_gets_nick", text_of(nick) == "Alice PEP", f"the event carries <nick>Alice PEP</nick>; got {got}")


SCENARIOS = {
    "avatar": scenario_avatar,
    "bookmarks": scenario_bookmarks,
    "bookmarks-compat": scenario_bookmarks_compat,
    "private": scenario_private,
    "vcard": scenario_vcard,
    "vcard-avatar": scenario_vcard_avatar,
    "nick": scenario_nick,
}

__all__ = ["PUBSUB_NS"]

"""XEP-0060 on XEP-0163 PEP, and XEP-0115 caps, with slixmpp's plugins."""

import asyncio

from slixmpp.xmlstream import ET

import interop
from interop import step
from pep_common import (
    QUIET_SECS,
    TEST_NS,
    caps_known,
    caps_query_from_server,
    error_conditions,
    event_payload,
    online,
    options_form,
    publish_item,
    published,
    record_disco_queries,
    request,
    quiet,
    result_items,
    retracted,
    settle,
    test_node,
    text_of,
)

PUBSUB_PLUGINS = ("xep_0004", "xep_0060", "xep_0115", "xep_0163")

# The node is made with room for the items the scenario publishes (the PEP
# default may keep only one); every publish repeats this precondition.
NODE_OPTIONS = {"pubsub#max_items": "10", "pubsub#persist_items": "true"}


def entry(text):
    payload = ET.Element(f"{{{TEST_NS}}}entry")
    payload.text = text
    return payload


async def publish(r, name, c, node, item_id, text, options=None):
    """Publishes ``<entry>text</entry>`` as ``item_id`` on ``c``'s own PEP
    node; a required check ``name``."""
    got = await publish_item(r, c, node, item_id, entry(text), NODE_OPTIONS if options is None else options, c.ctx.step_timeout)
    r.require(name, got["type"] == "result", f"publish of {item_id} to {node}: a result (XEP-0060 §7.1.2); got {got}")
    return got


async def befriended_with_interest(ctx, r, node, suffix):
    """alice, bob (mutual subscription) and carol (no subscription), all
    three advertising ``node+notify`` in their caps (XEP-0163 §4.3)."""
    a = ctx.account("alice", "a-" + suffix, PUBSUB_PLUGINS)
    b = ctx.account("bob", "b-" + suffix, PUBSUB_PLUGINS)
    c = ctx.account("carol", "c-" + suffix, PUBSUB_PLUGINS)
    for client in (a, b, c):
        record_disco_queries(client)
        client.plugin["xep_0163"].add_interest(node)
    await online(ctx, r, (a, b, c))
    await interop.befriend(r, a, b, "setup_")
    await settle(r, "settled", (a, b), ctx.step_timeout)
    return a, b, c


async def scenario_pubsub(ctx, r, args):
    """XEP-0060/0163: notify, retrieve, retract, preconditions, whitelist."""
    node = test_node("pubsub")
    a, b, c = await befriended_with_interest(ctx, r, node, "ps")
    alice = a.boundjid.bare
    xep60 = b.plugin["xep_0060"]

    ma, mb, mc = a.inbox.mark(), b.inbox.mark(), c.inbox.mark()
    await publish(r, "publish_result", a, node, "item-1", "hello 1")
    got = await step(
        r,
        "contact_gets_event",
        b.inbox.wait("message", published(node, "item-1", alice), f"event for {node} item-1", since=mb),
        "XEP-0163 §4.3.2: a contact with a 'both' subscription and +notify gets the event",
    )
    payload = event_payload(got, node, "item-1")
    r.check(
        "contact_gets_event",
        text_of(payload) == "hello 1",
        f"the event carries the payload <entry>hello 1</entry> (XEP-0060 §7.1.2.1); got {got}",
    )
    got = await step(
        r,
        "own_resource_gets_event",
        a.inbox.wait("message", published(node, "item-1", alice), f"event for {node} item-1", since=ma),
        "XEP-0163 §4.3.2: the account's own resources with +notify get the event",
    )
    r.check("own_resource_gets_event", got is not None, f"alice's own resource got {got}")
    await quiet(
        r,
        "stranger_gets_nothing",
        c,
        "message",
        published(node),
        mc,
        "XEP-0163 §4.3.2: no event for a user without a presence subscription, +notify or not",
    )

    for n in (2, 3):
        await publish(r, f"publish_item_{n}", a, node, f"item-{n}", f"hello {n}")
    got = await step(r, "items_all", request(b, xep60.get_items(alice, node)), "items get")
    items = dict(result_items(got))
    r.check(
        "items_all",
        got["type"] == "result" and {k: text_of(v) for k, v in items.items()} == {f"item-{n}": f"hello {n}" for n in (1, 2, 3)},
        f"a contact retrieves all three items with payloads (XEP-0060 §6.5.2); got {got}",
    )
    got = await step(r, "items_by_id", request(b, xep60.get_item(alice, node, "item-2")), "items get by id")
    r.check(
        "items_by_id",
        got["type"] == "result" and [(i, text_of(p)) for i, p in result_items(got)] == [("item-2", "hello 2")],
        f"exactly item-2 (XEP-0060 §6.5.8); got {got}",
    )
    got = await step(r, "items_max", request(b, xep60.get_items(alice, node, max_items=1)), "items get max_items=1")
    r.check(
        "items_max",
        got["type"] == "result" and [i for i, _ in result_items(got)] == ["item-3"],
        f"max_items='1' gives the most recent item, item-3 (XEP-0060 §6.5.7); got {got}",
    )

    got = await request(
        a,
        a.plugin["xep_0060"].publish(
            None, node, id="item-4", payload=entry("x"), options=options_form({"pubsub#access_model": "whitelist"})
        ),
    )
    r.check(
        "precondition_not_met",
        error_conditions(got) == ("cancel", "conflict", "precondition-not-met"),
        "publish-options that do not match the node's configuration: <conflict/> with "
        f"<precondition-not-met/>, type cancel (XEP-0060 §7.1.5); got {error_conditions(got)}: {got}",
    )

    closed = test_node("whitelist")
    b.plugin["xep_0163"].add_interest(closed)
    await b.sync()
    mb = b.inbox.mark()
    await publish(r, "whitelist_publish", a, closed, "secret", "not for bob", {"pubsub#access_model": "whitelist"})
    got = await step(r, "whitelist_not_readable", request(b, xep60.get_items(alice, closed)), "items get")
    kind = error_conditions(got)
    r.fact("whitelist_error", list(kind))
    r.check(
        "whitelist_not_readable",
        got["type"] == "error" and kind[1] in ("not-allowed", "forbidden", "item-not-found"),
        "a contact not on the whitelist cannot read it: <not-allowed/> with <closed-node/> "
        "(XEP-0060 §6.5.9), or <item-not-found/> hiding the node; got "
        f"{kind}: {got}",
    )
    await quiet(
        r,
        "whitelist_no_event",
        b,
        "message",
        published(closed),
        mb,
        "XEP-0060 access models: no notification from a whitelist node to a contact not on the list",
    )


async def scenario_retract(ctx, r, args):
    """XEP-0060 §7.2: retract with notify='true' reaches a PEP contact."""
    node = test_node("retract")
    a, b, c = await befriended_with_interest(ctx, r, node, "retract")
    alice = a.boundjid.bare
    xep60 = b.plugin["xep_0060"]
    for n in (1, 2):
        await publish(r, f"publish_item_{n}", a, node, f"item-{n}", f"hello {n}")
    mb = b.inbox.mark()
    got = await step(r, "retract_result", request(a, a.plugin["xep_0060"].retract(None, node, "item-1", notify=True)), "retract")
    r.require("retract_result", got["type"] == "result", f"retract of item-1: a result (XEP-0060 §7.2.2); got {got}")
    got = await step(
        r,
        "contact_gets_retract",
        b.inbox.wait("message", retracted(node, "item-1"), f"<retract id='item-1'/> for {node}", since=mb),
        "XEP-0060 §7.2.2.1: notify='true' sends <retract/> to subscribers",
    )
    r.check("contact_gets_retract", got is not None, f"bob got {got}")
    got = await step(r, "items_after_retract", request(b, xep60.get_items(alice, node)), "items get")
    r.check(
        "items_after_retract",
        [i for i, _ in result_items(got)] == ["item-2"],
        f"item-1 is gone (XEP-0060 §7.2); got {got}",
    )



async def scenario_last_item(ctx, r, args):
    """XEP-0163 §4.3.4 (the node's 'send_last_published_item'): a
    contact who comes online gets the last item."""
    node = test_node("last")
    a, b, c = await befriended_with_interest(ctx, r, node, "last")
    await publish(r, "publish_first", a, node, "first", "older")
    await publish(r, "publish_last", a, node, "last", "newest")
    got = await b.logout()
    r.fact("bob_logout_clean", got)
    b2 = ctx.account("bob", "b-last-again", PUBSUB_PLUGINS)
    b2.plugin["xep_0163"].add_interest(node)
    await interop.login(r, b2, "bob_logged_in_again")
    mark = b2.inbox.mark()
    b2.send_presence()
    got = await step(
        r,
        "last_item_on_presence",
        b2.inbox.wait("message", published(node, "last", a.boundjid.bare), f"the last item of {node}", since=mark),
        "XEP-0163 §4.3.4: the last published item is sent when a contact with +notify comes online",
    )
    r.check(
        "last_item_on_presence",
        text_of(event_payload(got, node, "last")) == "newest",
        f"the item 'last' with <entry>newest</entry>; got {got}",
    )
    await asyncio.sleep(QUIET_SECS)
    older = b2.inbox.find("message", published(node, "first"), mark)
    r.fact("older_item_also_sent", older is not None)


async def scenario_caps(ctx, r, args):
    """XEP-0115: the server asks for a new 'ver' once, contacts see caps."""
    node = test_node("caps")
    a = ctx.account("alice", "a-caps", PUBSUB_PLUGINS)
    b = ctx.account("bob", "b-caps", PUBSUB_PLUGINS)
    for client in (a, b):
        record_disco_queries(client)
    b.plugin["xep_0163"].add_interest(node)
    await online(ctx, r, (a, b))
    # XEP-0115 §6.3: a server MAY advertise its own caps in stream features.
    r.fact("server_caps_in_stream_features", "caps" in a.features)
    await interop.befriend(r, a, b, "setup_")
    await settle(r, "settled", (a, b), ctx.step_timeout)
    # From bob's first presence on: Prosody's PEP service of bob's own
    # account asks at once, ejabberd's mod_caps when the presence arrives.
    got = await caps_known(b, 0, ctx.step_timeout)
    r.check(
        "server_queries_new_ver",
        got is not None,
        "a server doing PEP asks a contact's client about a 'ver' it does not know, with "
        f"disco#info to node#ver (XEP-0115 §6.2, XEP-0163 §4.3.2); got {got}",
    )
    if got is not None:
        r.fact("caps_query_from", str(got["from"]))
    presence = a.inbox.find("presence", interop.presence_from(b.boundjid.full, ptype="available"), 0)
    caps = presence.xml.find("{http://jabber.org/protocol/caps}c") if presence is not None else None
    r.check(
        "contact_presence_has_caps",
        caps is not None and caps.get("hash") == "sha-1" and caps.get("ver"),
        f"bob's presence reaches alice with <c hash='sha-1' ver=…/> (XEP-0115 §4); got {presence}",
    )
    info = await step(
        r,
        "contact_disco_by_caps",
        request(a, a.plugin["xep_0030"].get_info(b.boundjid.full, node=f"{caps.get('node')}#{caps.get('ver')}" if caps is not None else None)),
        "disco#info of bob's full JID",
    )
    features = info["disco_info"]["features"] if info["type"] == "result" else []
    r.check(
        "contact_disco_by_caps",
        f"{node}+notify" in features,
        f"disco#info of node#ver at bob's full JID lists {node}+notify (XEP-0115 §6.2); got {features}",
    )
    ver = a.plugin["xep_0115"].generate_verstring(info["disco_info"], "sha-1") if info["type"] == "result" else None
    r.check(
        "ver_matches",
        caps is not None and ver == caps.get("ver"),
        f"the advertised ver is the hash of that disco#info (XEP-0115 §5.1); advertised "
        f"{caps.get('ver') if caps is not None else None}, computed {ver}",
    )
    # A second presence with the same 'ver' is not asked about again.
    mb = b.inbox.mark()
    b.send_presence(pstatus="same caps")
    await b.sync()
    await quiet(
        r,
        "known_ver_not_asked_again",
        b,
        "disco",
        caps_query_from_server,
        mb,
        "XEP-0115 §6.2: a 'ver' already known is not queried again",
    )


SCENARIOS = {
    "pubsub": scenario_pubsub,
    "retract": scenario_retract,
    "last-item": scenario_last_item,
    "caps": scenario_caps,
}

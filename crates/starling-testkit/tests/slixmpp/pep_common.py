"""What the scenarios of pep.py share: logging several accounts in, PEP
events in a client's inbox, publish-options forms and error conditions."""

import asyncio
import uuid

from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.plugins.xep_0004 import Form
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

import interop
from interop import login, step

EVENT_NS = "http://jabber.org/protocol/pubsub#event"
PUBSUB_NS = "http://jabber.org/protocol/pubsub"
ERRORS_NS = "http://jabber.org/protocol/pubsub#errors"
DISCO_INFO_NS = "http://jabber.org/protocol/disco#info"
STANZAS_NS = "urn:ietf:params:xml:ns:xmpp-stanzas"
TEST_NS = "urn:example:starling-pep"

# How long a check that something does NOT arrive waits after a round trip
# that shows the server handled what came before.
QUIET_SECS = 2.0


def test_node(what):
    """A node name of this run (new caps 'ver', nothing left from before)."""
    return f"{TEST_NS}:{what}:{uuid.uuid4().hex[:12]}"


def record_disco_queries(c):
    """Puts every disco#info get that ``c`` receives into its inbox as
    ``disco`` (slixmpp's xep_0030 still answers it)."""
    c.register_handler(
        Callback(
            "pep: disco#info queries",
            MatchXPath(f"{{{interop.CLIENT_NS}}}iq/{{{DISCO_INFO_NS}}}query"),
            lambda iq: c.inbox.push("disco", iq) if iq["type"] == "get" else None,
        )
    )


async def online(ctx, r, clients, name="online"):
    """Logs each client in, gets its roster, (``--reset``) empties it, and
    sends initial presence; one check ``name``."""
    for c in clients:
        await login(r, c, f"{c.boundjid.resource}_logged_in")
    for c in clients:
        iq = await step(r, name, c.fetch_roster(), "roster get")
        if iq["type"] != "result":
            r.require(name, False, f"roster get answered with an error: {iq}")
        if ctx.reset:
            await interop.reset_roster(r, c, name)
        if c.plugin.enabled("xep_0115"):
            # add_interest() recomputes the caps in the background, once per
            # call; the presence must carry the 'ver' of the final feature
            # set, or servers that check it (XEP-0115 §5.4) ask again and
            # again and never cache it.
            await c.plugin["xep_0115"].update_caps(broadcast=False)
        await step(r, name, c.go_online(), "initial presence and a ping")
    r.check(name, True, ", ".join(str(c.boundjid) for c in clients) + " online")


def caps_query_from_server(iq):
    """A disco#info get to node#ver from a server, not from another client:
    Prosody's PEP services ask from an account's bare JID, ejabberd's
    mod_caps from the client's own full JID (or the domain)."""
    if "#" not in (iq["disco_info"]["node"] or ""):
        return False
    return not iq["from"].resource or iq["from"].full == iq["to"].full


async def caps_known(c, since, timeout):
    """Waits (softly) until the server asked ``c`` for its caps after
    ``since``, then a moment for the answer to be used. A 'ver' the server
    already knows from another client is not asked again: None then."""
    got = await soft_wait(c, "disco", caps_query_from_server, since, timeout)
    await asyncio.sleep(0.5)
    return got


async def settle(r, name, clients, timeout):
    """After a subscription dance: each client sends its presence again
    (ejabberd 23.01 notifies a contact of PEP events only once the
    publisher's session has sent it available presence after the
    subscription), then waits for caps queries to be answered."""
    for c in clients:
        mark = c.inbox.mark()
        c.send_presence()
        await step(r, name, c.sync(), "presence again and a ping")
        await soft_wait(c, "disco", caps_query_from_server, mark, 1.0)
    await asyncio.sleep(0.5)


def event_items(msg, node):
    """The <items/> of a PEP event for ``node`` in a message, or None."""
    if msg["type"] == "error":
        return None
    items = msg.xml.find(f"{{{EVENT_NS}}}event/{{{EVENT_NS}}}items")
    if items is None or items.get("node") != node:
        return None
    return items


def published(node, item_id=None, sender=None):
    """A predicate: a PEP event for ``node`` with an item (``item_id`` if
    given), from the bare JID ``sender`` if given."""

    def pred(msg):
        items = event_items(msg, node)
        if items is None or (sender is not None and msg["from"].bare != str(sender)):
            return False
        ids = [i.get("id") for i in items.findall(f"{{{EVENT_NS}}}item")]
        return bool(ids) and (item_id is None or item_id in ids)

    return pred


def retracted(node, item_id):
    def pred(msg):
        items = event_items(msg, node)
        return items is not None and any(
            i.get("id") == item_id for i in items.findall(f"{{{EVENT_NS}}}retract")
        )

    return pred


def event_payload(msg, node, item_id):
    """The payload element of item ``item_id`` of the event, or None."""
    items = event_items(msg, node)
    for item in [] if items is None else items.findall(f"{{{EVENT_NS}}}item"):
        if item.get("id") == item_id and len(item):
            return item[0]
    return None


def options_form(fields, form_type="http://jabber.org/protocol/pubsub#publish-options"):
    """A submitted publish-options (or node_config) form."""
    form = Form()
    form["type"] = "submit"
    form.add_field(var="FORM_TYPE", ftype="hidden", value=form_type)
    for key, value in fields.items():
        form.add_field(var=key, value=value)
    return form


def result_items(iq):
    """[(id, payload element or None)] of a pubsub <items/> result."""
    items = iq.xml.find(f"{{{PUBSUB_NS}}}pubsub/{{{PUBSUB_NS}}}items")
    if items is None:
        return []
    return [(i.get("id"), i[0] if len(i) else None) for i in items.findall(f"{{{PUBSUB_NS}}}item")]


def error_conditions(iq):
    """(type, defined condition, pubsub#errors condition or None)."""
    error = iq.xml.find(f"{{{interop.CLIENT_NS}}}error")
    if error is None:
        return (None, None, None)
    condition = app = None
    for child in error:
        ns, _, local = child.tag[1:].partition("}")
        if ns == STANZAS_NS and local != "text":
            condition = local
        elif ns == ERRORS_NS:
            app = local
    return (error.get("type"), condition, app)


NODE_CONFIG = "http://jabber.org/protocol/pubsub#node_config"


async def publish_item(r, c, node, item_id, payload, options, timeout):
    """Publishes to ``c``'s own PEP node with publish-options, as
    slixmpp-omemo does: when the server refuses the options themselves
    (ejabberd 23.01 knows no 'pubsub#max_items' there) or they do not
    match an existing node, the node is created or configured with them
    (XEP-0060 §8.1.3, §8.2.4) and the item published without. The reply to
    the last publish; how it went is the fact 'publish_options'."""
    xep60 = c.plugin["xep_0060"]
    got = await request(c, xep60.publish(None, node, id=item_id, payload=payload, options=options_form(options), timeout=timeout))
    if got["type"] == "result":
        return got
    _, condition, app = error_conditions(got)
    facts = r.facts.setdefault("publish_options", {})
    facts[node.rsplit(":", 1)[0]] = f"refused ({condition}, {app}): node configured instead"
    config = options_form(options, NODE_CONFIG)
    made = await request(c, xep60.create_node(None, node, config=config, timeout=timeout))
    if made["type"] != "result":
        made = await request(c, xep60.set_node_config(None, node, config, timeout=timeout))
        if made["type"] != "result":
            # Neither way works: the publish's own error is the answer.
            facts[node.rsplit(":", 1)[0]] += f"; configuring failed too: {error_conditions(made)}"
            return got
    return await request(c, xep60.publish(None, node, id=item_id, payload=payload, timeout=timeout))


async def request(c, send):
    """Awaits an iq send (a coroutine or future); an error is returned."""
    try:
        return await send
    except IqError as e:
        return e.iq


async def quiet(r, name, c, kind, pred, since, what):
    """Checks that nothing matching arrived at ``c`` since ``since``, after a
    round trip and ``QUIET_SECS``."""
    await step(r, name, c.sync(), "a ping round trip")
    await asyncio.sleep(QUIET_SECS)
    got = c.inbox.find(kind, pred, since)
    r.check(name, got is None, f"{what}; got {got if got is not None else 'nothing'}")


async def soft_wait(c, kind, pred, since, timeout):
    """The first match within ``timeout`` or None (never a failure)."""
    try:
        return await c.inbox.wait(kind, pred, "", since=since, timeout=timeout)
    except asyncio.TimeoutError:
        return None


def text_of(element):
    return None if element is None else (element.text or "")


__all__ = ["IqError", "IqTimeout"]

#!/usr/bin/env python3
"""Drives a running Starling server with slixmpp, one scenario per run.

Used by ``crates/starling-server/tests/slixmpp.rs``, which creates the
accounts ``alice`` and ``bob`` and passes the server's address, domain and
certificate. It can also be run by hand against any server that has those
two accounts (``--reset`` first empties their rosters, for reruns)::

    python interop.py --port 5222 --domain localhost --ca cert.pem \\
        --alice-password A --bob-password B --reset roster

Every connection uses STARTTLS on ``127.0.0.1:PORT`` and verifies the
server's certificate against ``--ca`` for the name ``--domain``.

Output: one JSON object on the last line of standard output::

    {"scenario": "roster", "ok": true, "error": null,
     "checks": [{"name": "...", "ok": true, "detail": "..."}],
     "facts": {"...": "..."}}

Each check has a stable name; a failed check's detail says what was
expected (with the RFC or XEP section) and what happened. Exit status: 0
when every check passed, 1 when one failed or the scenario stopped early
(``error`` says why), 2 for bad arguments, 3 when the whole scenario ran
out of time. Every wait has a limit (``--step-timeout``), the whole run too
(``--timeout``), and a watchdog ends the process if the event loop itself
hangs. ``--log FILE`` writes slixmpp's debug log (every stanza sent and
received) to FILE.
"""

import argparse
import asyncio
import datetime as dt
import faulthandler
import json
import logging
import sys
import traceback
import uuid

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream import ET
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

log = logging.getLogger("starling-interop")

CLIENT_NS = "jabber:client"
UNKNOWN_NS = "urn:example:starling-interop:unknown"


class StepFailed(Exception):
    """A required step failed; its check is already recorded."""


class LoginFailed(Exception):
    """The client did not reach session start."""


class Report:
    """The checks and facts of one scenario, printed as JSON at the end."""

    def __init__(self, scenario):
        self.scenario = scenario
        self.checks = []
        self.facts = {}

    def check(self, name, ok, detail):
        ok = bool(ok)
        self.checks.append({"name": name, "ok": ok, "detail": detail})
        (log.info if ok else log.error)("check %s: %s: %s", name, "ok" if ok else "FAILED", detail)
        return ok

    def require(self, name, ok, detail):
        """A check whose failure stops the scenario."""
        if not self.check(name, ok, detail):
            raise StepFailed(name)

    def fact(self, key, value):
        self.facts[key] = value

    def to_json(self, error):
        return json.dumps(
            {
                "scenario": self.scenario,
                "ok": error is None and all(c["ok"] for c in self.checks),
                "error": error,
                "checks": self.checks,
                "facts": self.facts,
            },
            sort_keys=True,
        )


class Inbox:
    """Everything of interest a client received, in order, with waiting.

    ``mark()`` before an action and ``wait(pred, what, since=mark)`` after it:
    what arrived in between is not missed.
    """

    def __init__(self, timeout):
        self.items = []
        self.timeout = timeout
        self._changed = asyncio.Event()

    def push(self, kind, stanza):
        self.items.append((kind, stanza))
        self._changed.set()

    def mark(self):
        return len(self.items)

    def find(self, kind, pred, since=0):
        for k, stanza in self.items[since:]:
            if k == kind and pred(stanza):
                return stanza
        return None

    async def wait(self, kind, pred, what, since=0, timeout=None):
        """The first ``kind`` item since ``since`` matching ``pred``.

        Raises ``asyncio.TimeoutError`` with a message naming ``what``.
        """
        timeout = self.timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = self.find(kind, pred, since)
            if found is not None:
                return found
            self._changed.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise asyncio.TimeoutError(
                    f"nothing matching after {timeout:.0f} s: waited for {what}; "
                    f"received since then: {self.describe(since)}"
                )
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    def describe(self, since=0):
        """A short list of what arrived since ``since``, for failure messages."""
        parts = []
        for kind, stanza in self.items[since:]:
            text = str(stanza)
            if len(text) > 300:
                text = text[:300] + "..."
            parts.append(f"{kind}: {text}")
        return "[" + "; ".join(parts) + "]" if parts else "nothing"


class Client(slixmpp.ClientXMPP):
    """A slixmpp client for one account, recording what it receives."""

    def __init__(self, ctx, user, password, *, mech=None, resource=None):
        jid = f"{user}@{ctx.domain}"
        if resource:
            jid += f"/{resource}"
        super().__init__(jid, password, sasl_mech=mech)
        self.ctx = ctx
        self.user = user
        # Trust only the server's own certificate; the host name checked is
        # the JID's domain (slixmpp's default SSL context verifies both).
        self.ca_certs = ctx.ca
        # STARTTLS only: no direct TLS attempt on the STARTTLS port, and no
        # plaintext fallback.
        self.enable_direct_tls = False
        self.enable_plaintext = False
        self.enable_starttls = True
        self.plugin["feature_mechanisms"].unencrypted_plain = False
        self.plugin["feature_mechanisms"].unencrypted_scram = False
        # Subscriptions are answered by the scenarios, not automatically.
        self.auto_authorize = None
        self.auto_subscribe = False
        for plugin in ("xep_0030", "xep_0092", "xep_0199", "xep_0203"):
            self.register_plugin(plugin)

        self.inbox = Inbox(ctx.step_timeout)
        self.auth_failures = []
        self.stream_errors = []
        self.tls_error = None
        self.disconnect_reasons = []
        self._session = None
        self.register_handler(
            Callback(
                "interop: every message",
                MatchXPath(f"{{{CLIENT_NS}}}message"),
                lambda stanza: self.inbox.push("message", stanza),
            )
        )
        self.register_handler(
            Callback(
                "interop: every presence",
                MatchXPath(f"{{{CLIENT_NS}}}presence"),
                lambda stanza: self.inbox.push("presence", stanza),
            )
        )
        self.add_event_handler("roster_update", self._on_roster_update)
        self.add_event_handler("session_start", self._on_session_start)
        self.add_event_handler("failed_auth", self._on_failed_auth)
        self.add_event_handler("failed_all_auth", self._on_failed_all_auth)
        self.add_event_handler("ssl_invalid_chain", self._on_tls_error)
        self.add_event_handler("connection_failed", self._on_connection_failed)
        self.add_event_handler("stream_error", self._on_stream_error)
        self.add_event_handler("disconnected", self._on_disconnected)

    # -- connection ---------------------------------------------------------

    def _fail_login(self, reason):
        if self._session is not None and not self._session.done():
            self._session.set_exception(LoginFailed(reason))

    def _on_session_start(self, _event):
        if self._session is not None and not self._session.done():
            self._session.set_result(True)

    def _on_failed_auth(self, failure):
        self.auth_failures.append(
            {"condition": failure["condition"], "text": failure["text"], "xml": str(failure)}
        )

    def _on_failed_all_auth(self, _event):
        conditions = ", ".join(f["condition"] for f in self.auth_failures) or "none"
        self._fail_login(f"SASL authentication failed (conditions: {conditions})")

    def _on_tls_error(self, error):
        self.tls_error = str(error)
        self._fail_login(
            f"TLS: the server's certificate was not accepted for '{self.ctx.domain}' "
            f"with {self.ctx.ca} as the only CA: {error}"
        )
        if self.transport is not None:
            self.abort()

    def _on_connection_failed(self, error):
        self.cancel_connection_attempt()
        self._fail_login(f"cannot connect to {self.ctx.host}:{self.ctx.port}: {error}")

    def _on_stream_error(self, error):
        self.stream_errors.append({"condition": error["condition"], "text": error["text"]})
        self._fail_login(f"stream error <{error['condition']}/> {error['text']!r}")

    def _on_disconnected(self, reason):
        self.disconnect_reasons.append(str(reason))
        if "SSL" in str(reason) or "certificate" in str(reason):
            self._on_tls_error(reason)
        self._fail_login(f"disconnected before the session started ({reason})")

    def _on_roster_update(self, iq):
        if iq["type"] == "set":
            self.inbox.push("roster_push", iq)

    async def login(self):
        """Connects with STARTTLS and waits for session start."""
        self._session = asyncio.get_running_loop().create_future()
        self.connect(self.ctx.host, self.ctx.port)
        try:
            await asyncio.wait_for(self._session, self.ctx.step_timeout)
        except asyncio.TimeoutError:
            self.cancel_connection_attempt()
            raise LoginFailed(
                f"no session within {self.ctx.step_timeout:.0f} s "
                f"(features negotiated: {sorted(self.features)})"
            ) from None
        except LoginFailed:
            self.cancel_connection_attempt()
            raise

    async def logout(self):
        """Closes the stream; returns whether the server closed its own.

        slixmpp reports "End of stream" as the reason of the disconnection
        when the server's </stream:stream> arrived before the connection
        ended; otherwise it gives up after ``wait`` seconds and aborts.
        """
        self.disconnect_reasons.clear()
        try:
            await asyncio.wait_for(self.disconnect(wait=self.ctx.step_timeout), self.ctx.step_timeout + 5)
        except asyncio.TimeoutError:
            self.abort()
            return False
        return "End of stream" in self.disconnect_reasons

    def ssl_object(self):
        if self.transport is None:
            return None
        return self.transport.get_extra_info("ssl_object")

    # -- requests -------------------------------------------------------------

    async def request(self, iq):
        """Sends an iq and returns the reply, result or error."""
        try:
            return await iq.send(timeout=self.ctx.step_timeout)
        except IqError as e:
            return e.iq

    async def fetch_roster(self, ver=None):
        """A roster get without 'ver' (the full roster, RFC 6121 §2.1.3)."""
        iq = self.Iq()
        iq["type"] = "get"
        iq.enable("roster")
        if ver is not None:
            iq["roster"]["ver"] = ver
        return await self.request(iq)

    async def sync(self):
        """A ping round trip to the server: what was sent before is processed."""
        iq = self.Iq()
        iq["type"] = "get"
        iq["to"] = self.ctx.domain
        iq.enable("ping")
        reply = await self.request(iq)
        if reply["type"] != "result":
            raise StepFailed(f"sync ping failed: {reply}")

    async def go_online(self, **kwargs):
        """Initial presence, then a round trip so that the server has it."""
        self.send_presence(**kwargs)
        await self.sync()


class Context:
    def __init__(self, args):
        self.host = args.host
        self.port = args.port
        self.domain = args.domain
        self.ca = args.ca
        self.passwords = {"alice": args.alice_password, "bob": args.bob_password}
        self.step_timeout = args.step_timeout
        self.reset = args.reset
        self.clients = []

    def client(self, user, **kwargs):
        password = kwargs.pop("password", self.passwords[user])
        c = Client(self, user, password, **kwargs)
        self.clients.append(c)
        return c

    def jid(self, user):
        return f"{user}@{self.domain}"

    async def close_all(self):
        for c in self.clients:
            if c.transport is not None:
                try:
                    await asyncio.wait_for(c.disconnect(wait=2), 5)
                except Exception:  # noqa: BLE001 - best effort at the end
                    c.abort()


# -- helpers ---------------------------------------------------------------------


async def login(r, c, check="logged_in"):
    """Logs ``c`` in; a failure is the failed check ``check`` and stops."""
    try:
        await c.login()
    except LoginFailed as e:
        r.require(check, False, f"{c.boundjid.bare or c.requested_jid}: {e}")
    r.check(check, True, f"{c.boundjid.full} bound over STARTTLS")


async def step(r, name, awaitable, what):
    """Awaits a wait or a request (an iq error is returned as the reply); a
    timeout is the failed check ``name``, which stops the scenario."""
    try:
        return await awaitable
    except IqError as e:
        return e.iq
    except (asyncio.TimeoutError, IqTimeout) as e:
        detail = str(e) if isinstance(e, asyncio.TimeoutError) else "no reply to the iq"
        r.require(name, False, f"{what}: {detail}")
    return None


def roster_items(iq):
    """{bare jid: item dict} of a roster result or push."""
    return {str(jid): dict(item) for jid, item in iq["roster"]["items"].items()}


def describe_item(item):
    if item is None:
        return "absent"
    return (
        f"subscription={item.get('subscription')!r} ask={item.get('ask')!r} "
        f"name={item.get('name')!r} groups={sorted(item.get('groups') or [])}"
    )


def error_of(stanza):
    """(type, condition) of an error stanza."""
    return stanza["error"]["type"], stanza["error"]["condition"]


def push_for(jid, **expected):
    """A predicate: a roster push whose item for ``jid`` has these values."""

    def pred(iq):
        item = roster_items(iq).get(jid)
        if item is None:
            return False
        for key, value in expected.items():
            actual = item.get(key)
            if key == "groups":
                if sorted(actual or []) != sorted(value):
                    return False
            elif (actual or "") != value:
                return False
        return True

    return pred


def presence_from(jid, ptype=None, show=None, status=None, bare=False):
    def pred(p):
        sender = p["from"].bare if bare else p["from"].full
        if sender != str(jid):
            return False
        if ptype is not None and p["type"] != ptype:
            return False
        if show is not None and (p["show"] or "") != show:
            return False
        if status is not None and p["status"] != status:
            return False
        return True

    return pred


def body_is(body):
    return lambda m: m["type"] != "error" and m["body"] == body


# -- scenarios -------------------------------------------------------------------


async def scenario_login(ctx, r, args):
    """Login over STARTTLS with a SCRAM mechanism, then a clean close."""
    mech = None if args.mech == "default" else args.mech
    c = ctx.client("alice", mech=mech, resource="login")
    await login(r, c)
    used = c.plugin["feature_mechanisms"].mech.name if c.plugin["feature_mechanisms"].mech else None
    offered = sorted(c.plugin["feature_mechanisms"].mech_list)
    ssl_obj = c.ssl_object()
    r.fact("mechanism", used)
    r.fact("offered_mechanisms", offered)
    r.fact("bound_jid", c.boundjid.full)
    r.fact("tls_version", ssl_obj.version() if ssl_obj else None)
    r.fact("tls_cipher", ssl_obj.cipher()[0] if ssl_obj else None)
    r.check(
        "tls_in_use",
        ssl_obj is not None and "starttls" in c.features,
        "the stream is encrypted after STARTTLS (RFC 6120 §5) and the "
        f"certificate was verified for {ctx.domain!r}: "
        f"ssl={ssl_obj.version() if ssl_obj else None}, features={sorted(c.features)}",
    )
    if mech is None:
        ok = used in ("SCRAM-SHA-256", "SCRAM-SHA-256-PLUS")
        expectation = "SCRAM-SHA-256 (or its -PLUS form), the strongest both sides support"
    else:
        ok = used == mech
        expectation = mech
    r.check("mechanism_used", ok, f"expected {expectation}, used {used}; offered {offered}")
    r.check(
        "scram_mechanisms_offered",
        {"SCRAM-SHA-1", "SCRAM-SHA-256"} <= set(offered),
        f"SCRAM-SHA-1 and SCRAM-SHA-256 offered after TLS; offered {offered}",
    )
    verified = getattr(c.plugin["feature_mechanisms"].mech, "_mutual_auth", False)
    r.check(
        "server_signature_verified",
        verified,
        "the SCRAM server signature (v=) in <success/> matched (RFC 5802 §5, RFC 6120 §6.4.6)",
    )
    r.check(
        "bound_jid",
        c.boundjid.bare == ctx.jid("alice") and bool(c.boundjid.resource),
        f"bound to a full JID of {ctx.jid('alice')} (RFC 6120 §7); got {c.boundjid.full!r}",
    )
    # A round trip on the authenticated stream.
    await step(r, "ping_after_login", c.sync(), "ping to the server after login")
    r.check("ping_after_login", True, "the server answered a ping on the new session")
    acknowledged = await c.logout()
    r.check(
        "stream_close_acknowledged",
        acknowledged,
        "the server answers the client's </stream:stream> with its own (RFC 6120 §4.4)"
        + ("" if acknowledged else f"; the connection ended without it: {c.disconnect_reasons}"),
    )


async def scenario_wrong_password(ctx, r, args):
    """A wrong password: SASL failure <not-authorized/>, then the right one works."""
    mech = "SCRAM-SHA-256" if args.mech == "default" else args.mech
    # One mechanism only: after its <failure/>, slixmpp has nothing left to
    # try and gives up (failed_all_auth) instead of trying the next one.
    c = ctx.client("alice", password="not-" + ctx.passwords["alice"], mech=mech)
    try:
        await c.login()
        r.check("login_refused", False, "the server accepted a wrong password")
    except LoginFailed as e:
        r.check("login_refused", True, f"login failed: {e}")
    r.fact("auth_failures", c.auth_failures)
    r.check(
        "failed_auth_event",
        len(c.auth_failures) >= 1,
        f"slixmpp's failed_auth event fired (a SASL <failure/>); got {c.auth_failures}",
    )
    conditions = [f["condition"] for f in c.auth_failures]
    r.check(
        "failure_not_authorized",
        bool(conditions) and all(cond == "not-authorized" for cond in conditions),
        f"<failure/> with <not-authorized/> for bad credentials (RFC 6120 §6.5.10); got {conditions}",
    )
    r.check("no_session", not c.sessionstarted, "no session was started with the wrong password")
    if c.transport is not None:
        await c.logout()
    # The account is not locked by one failure.
    good = ctx.client("alice", mech=mech, resource="after-failure")
    await login(r, good, "right_password_still_works")


async def scenario_roster(ctx, r, args):
    """Roster get, add, update and remove, each with its push (RFC 6121 §2)."""
    a = ctx.client("alice", resource="roster")
    await login(r, a)
    bob = ctx.jid("bob")
    rosterver = "rosterver" in a.features
    r.fact("rosterver_advertised", rosterver)

    if ctx.reset:
        await reset_roster(r, a, "initial_roster_empty")
    iq = await step(r, "initial_roster_empty", a.fetch_roster(ver="" if rosterver else None), "roster get")
    r.check(
        "initial_roster_empty",
        iq["type"] == "result" and roster_items(iq) == {},
        f"a new account's roster is empty (RFC 6121 §2.1.3); got {iq}",
    )

    pushes = []

    async def change(name, request, pred, expected):
        since = a.inbox.mark()
        reply = await step(r, name, request, f"roster set ({expected})")
        r.require(
            name + "_result",
            reply is not None and reply["type"] == "result",
            f"the roster set is answered with an empty result (RFC 6121 §2.1.5); got {reply}",
        )
        push = await step(
            r,
            name,
            a.inbox.wait("roster_push", pred, f"a roster push with {bob}: {expected}", since=since),
            "roster push (RFC 6121 §2.1.6; slixmpp ignores a push whose 'from' is neither "
            "absent nor the account's bare JID)",
        )
        pushes.append(push)
        r.check(
            name,
            len(roster_items(push)) == 1,
            f"push with exactly one item (RFC 6121 §2.1.6): {expected}; got {push}",
        )

    async def roster_has(name, expected_item, what):
        iq = await step(r, name, a.fetch_roster(), "roster get")
        item = roster_items(iq).get(bob) if iq["type"] == "result" else None
        if expected_item is None:
            ok = iq["type"] == "result" and item is None
        else:
            ok = item is not None and all(
                (sorted(item.get(k) or []) == sorted(v)) if k == "groups" else (item.get(k) or "") == v
                for k, v in expected_item.items()
            )
        r.check(name, ok, f"roster get shows {bob} {what}; got {describe_item(item)} in {iq}")

    await change(
        "add_push",
        a.update_roster(bob, name="Bob", groups=["Friends"], timeout=ctx.step_timeout),
        push_for(bob, name="Bob", subscription="none", groups=["Friends"]),
        "name Bob, group Friends, subscription none",
    )
    await roster_has(
        "roster_after_add",
        {"name": "Bob", "subscription": "none", "groups": ["Friends"]},
        "with name Bob, group Friends, subscription none",
    )
    await change(
        "update_push",
        a.update_roster(bob, name="Robert", groups=["Work", "Friends"], timeout=ctx.step_timeout),
        push_for(bob, name="Robert", groups=["Work", "Friends"]),
        "name Robert, groups Work and Friends",
    )
    await roster_has(
        "roster_after_update",
        {"name": "Robert", "groups": ["Work", "Friends"]},
        "with name Robert, groups Work and Friends",
    )
    since = a.inbox.mark()
    reply = await step(r, "remove_push", a.del_roster_item(bob), "roster remove")
    r.require(
        "remove_push_result",
        reply is not None and reply["type"] == "result",
        f"the roster remove is answered with a result (RFC 6121 §2.5.2); got {reply}",
    )
    push = await step(
        r,
        "remove_push",
        a.inbox.wait("roster_push", push_for(bob, subscription="remove"), f"a push removing {bob}", since=since),
        "roster push with subscription='remove' (RFC 6121 §2.5.2)",
    )
    pushes.append(push)
    r.check("remove_push", True, f"push with subscription='remove': {push}")
    await roster_has("roster_after_remove", None, "absent")

    versions = [p["roster"]["ver"] for p in pushes]
    r.fact("push_versions", versions)
    r.check(
        "roster_versioning",
        rosterver and all(versions) and len(set(versions)) == len(versions),
        "the server advertises roster versioning (<ver xmlns='urn:xmpp:features:rosterver'/>) and "
        "each push carries a new 'ver' (RFC 6121 §2.6); "
        f"advertised={rosterver}, push versions={versions}",
    )


async def befriend(r, a, b, prefix):
    """Mutual subscription between online ``a`` and ``b`` (RFC 6121 §3.1).

    Records one check per protocol step, named ``prefix + step``.
    """
    ja, jb = a.boundjid.bare, b.boundjid.bare

    # a asks b.
    ma, mb = a.inbox.mark(), b.inbox.mark()
    a.send_presence(pto=jb, ptype="subscribe")
    push = await step(
        r,
        prefix + "a_push_pending_out",
        a.inbox.wait("roster_push", push_for(jb, subscription="none", ask="subscribe"), f"push {jb} none+ask", since=ma),
        "the user's roster push after an outbound subscribe (RFC 6121 §3.1.2)",
    )
    r.check(prefix + "a_push_pending_out", True, f"{ja} got push {describe_item(roster_items(push)[jb])}")
    p = await step(
        r,
        prefix + "b_gets_subscribe",
        b.inbox.wait("presence", presence_from(ja, ptype="subscribe", bare=True), f"subscribe from {ja}", since=mb),
        "inbound subscription request delivered to the contact (RFC 6121 §3.1.3)",
    )
    r.check(
        prefix + "b_gets_subscribe",
        p["from"].full == ja,
        f"subscribe stamped with the user's bare JID (RFC 6121 §3.1.2); from={p['from']}",
    )

    # b approves.
    ma, mb = a.inbox.mark(), b.inbox.mark()
    b.send_presence(pto=ja, ptype="subscribed")
    push = await step(
        r,
        prefix + "b_push_from",
        b.inbox.wait("roster_push", push_for(ja, subscription="from"), f"push {ja} from", since=mb),
        "the contact's roster push after approving (RFC 6121 §3.1.5)",
    )
    r.check(prefix + "b_push_from", True, f"{jb} got push {describe_item(roster_items(push)[ja])}")
    await step(
        r,
        prefix + "a_gets_subscribed",
        a.inbox.wait("presence", presence_from(jb, ptype="subscribed", bare=True), f"subscribed from {jb}", since=ma),
        "the approval delivered to the user (RFC 6121 §3.1.6)",
    )
    r.check(prefix + "a_gets_subscribed", True, f"{ja} got <presence type='subscribed'/> from {jb}")
    push = await step(
        r,
        prefix + "a_push_to",
        a.inbox.wait("roster_push", push_for(jb, subscription="to", ask=""), f"push {jb} to", since=ma),
        "the user's roster push after the approval (RFC 6121 §3.1.6)",
    )
    r.check(prefix + "a_push_to", True, f"{ja} got push {describe_item(roster_items(push)[jb])}")
    await step(
        r,
        prefix + "a_gets_contact_presence",
        a.inbox.wait("presence", presence_from(b.boundjid.full, ptype="available"), f"available presence of {b.boundjid}", since=ma),
        "after approving, the contact's server MUST send the contact's current presence to the "
        "user (RFC 6121 §3.1.5)",
    )
    r.check(prefix + "a_gets_contact_presence", True, f"{ja} got {b.boundjid.full}'s presence")

    # b asks a, a approves.
    ma, mb = a.inbox.mark(), b.inbox.mark()
    b.send_presence(pto=ja, ptype="subscribe")
    push = await step(
        r,
        prefix + "b_push_from_pending_out",
        b.inbox.wait("roster_push", push_for(ja, subscription="from", ask="subscribe"), f"push {ja} from+ask", since=mb),
        "the roster push after an outbound subscribe (RFC 6121 §3.1.2)",
    )
    r.check(prefix + "b_push_from_pending_out", True, f"{jb} got push {describe_item(roster_items(push)[ja])}")
    await step(
        r,
        prefix + "a_gets_subscribe",
        a.inbox.wait("presence", presence_from(jb, ptype="subscribe", bare=True), f"subscribe from {jb}", since=ma),
        "inbound subscription request delivered (RFC 6121 §3.1.3)",
    )
    r.check(prefix + "a_gets_subscribe", True, f"{ja} got <presence type='subscribe'/> from {jb}")

    ma, mb = a.inbox.mark(), b.inbox.mark()
    a.send_presence(pto=jb, ptype="subscribed")
    push = await step(
        r,
        prefix + "a_push_both",
        a.inbox.wait("roster_push", push_for(jb, subscription="both"), f"push {jb} both", since=ma),
        "the roster push after approving (RFC 6121 §3.1.5)",
    )
    r.check(prefix + "a_push_both", True, f"{ja} got push {describe_item(roster_items(push)[jb])}")
    push = await step(
        r,
        prefix + "b_push_both",
        b.inbox.wait("roster_push", push_for(ja, subscription="both", ask=""), f"push {ja} both", since=mb),
        "the roster push after the approval (RFC 6121 §3.1.6)",
    )
    r.check(prefix + "b_push_both", True, f"{jb} got push {describe_item(roster_items(push)[ja])}")
    await step(
        r,
        prefix + "b_gets_contact_presence",
        b.inbox.wait("presence", presence_from(a.boundjid.full, ptype="available"), f"available presence of {a.boundjid}", since=mb),
        "after approving, the server MUST send the approver's current presence (RFC 6121 §3.1.5)",
    )
    r.check(prefix + "b_gets_contact_presence", True, f"{jb} got {a.boundjid.full}'s presence")


async def two_online(ctx, r, suffix):
    """alice and bob logged in, rosters requested, initial presence sent."""
    a = ctx.client("alice", resource="a-" + suffix)
    b = ctx.client("bob", resource="b-" + suffix)
    await login(r, a, "alice_logged_in")
    await login(r, b, "bob_logged_in")
    for c in (a, b):
        name = f"{c.user}_online"
        # Requesting the roster makes the resource "interested" (RFC 6121
        # §2.1.6: pushes go to those resources only).
        iq = await step(r, name, c.fetch_roster(), "roster get")
        if iq["type"] != "result":
            r.require(name, False, f"roster get answered with an error: {iq}")
        if ctx.reset:
            await reset_roster(r, c, name)
        await step(r, name, c.go_online(), "initial presence and a ping")
        r.check(name, True, f"{c.boundjid} requested its roster and is available")
    return a, b


async def reset_roster(r, c, name):
    """Removes every roster item of ``c`` (``--reset``: reruns by hand)."""
    iq = await step(r, name, c.fetch_roster(), "roster get")
    for jid in roster_items(iq):
        since = c.inbox.mark()
        await step(r, name, c.del_roster_item(jid), f"removing {jid}")
        await step(
            r,
            name,
            c.inbox.wait("roster_push", push_for(jid, subscription="remove"), f"push removing {jid}", since=since),
            "reset",
        )


async def scenario_subscription(ctx, r, args):
    """alice <-> bob mutual subscription, ending with both items 'both'."""
    a, b = await two_online(ctx, r, "sub")
    await befriend(r, a, b, "")
    for c, other in ((a, b), (b, a)):
        name = f"{c.user}_roster_both"
        iq = await step(r, name, c.fetch_roster(), "roster get")
        item = roster_items(iq).get(other.boundjid.bare)
        r.check(
            name,
            item is not None and item.get("subscription") == "both" and not item.get("ask"),
            f"{c.user}'s roster has {other.boundjid.bare} with subscription 'both' and no 'ask' "
            f"(RFC 6121 §3.1); got {describe_item(item)}",
        )


async def scenario_presence(ctx, r, args):
    """Presence broadcast to a subscribed contact: away, available, unavailable."""
    a, b = await two_online(ctx, r, "pres")
    await befriend(r, a, b, "setup_")
    full = a.boundjid.full

    async def observe(name, send, pred, what):
        mb = b.inbox.mark()
        send()
        p = await step(r, name, b.inbox.wait("presence", pred, what, since=mb), f"presence broadcast (RFC 6121 §4.4.2): {what}")
        r.check(name, True, f"bob got {p}")
        return p

    await observe(
        "bob_sees_away",
        lambda: a.send_presence(pshow="away", pstatus="lunch"),
        presence_from(full, ptype="away", show="away", status="lunch"),
        f"<show>away</show> 'lunch' from {full}",
    )
    await observe(
        "bob_sees_available",
        lambda: a.send_presence(pstatus="back"),
        presence_from(full, ptype="available", show="", status="back"),
        f"available 'back' from {full}",
    )
    await observe(
        "bob_sees_unavailable",
        lambda: a.send_presence(ptype="unavailable", pstatus="gone"),
        presence_from(full, ptype="unavailable"),
        f"unavailable from {full} (RFC 6121 §4.5.2)",
    )
    ma = a.inbox.mark()
    await observe(
        "bob_sees_available_again",
        lambda: a.send_presence(),
        presence_from(full, ptype="available"),
        f"available from {full} after a new initial presence (RFC 6121 §4.2.2)",
    )
    p = await step(
        r,
        "alice_gets_probe_answer",
        a.inbox.wait("presence", presence_from(b.boundjid.full, ptype="available"), "bob's presence for alice's new initial presence", since=ma),
        "on initial presence the server probes the contacts and delivers their presence (RFC 6121 §4.2.2, §4.3)",
    )
    r.check("alice_gets_probe_answer", True, f"alice got {p}")
    mb = b.inbox.mark()
    await a.logout()
    p = await step(
        r,
        "bob_sees_unavailable_on_disconnect",
        b.inbox.wait("presence", presence_from(full, ptype="unavailable"), f"unavailable from {full}", since=mb),
        "when a session ends without unavailable presence the server broadcasts it on the user's behalf (RFC 6121 §4.5.2)",
    )
    r.check("bob_sees_unavailable_on_disconnect", True, f"bob got {p}")


async def scenario_messages(ctx, r, args):
    """Chat both ways: to the bare JID and to the full JID."""
    a, b = await two_online(ctx, r, "msg")

    async def deliver(name, sender, receiver, to, mtype, what):
        body = f"{name} {uuid.uuid4()}"
        mid = f"id-{uuid.uuid4()}"
        mr = receiver.inbox.mark()
        msg = sender.make_message(mto=to, mbody=body, mtype=mtype)
        msg["id"] = mid
        msg.send()
        got = await step(
            r,
            name,
            receiver.inbox.wait("message", body_is(body), f"{mtype} message '{body}' to {to}", since=mr),
            f"delivery of a {mtype} message to {what} (RFC 6121 §8.5.2, §8.5.3)",
        )
        r.check(
            name,
            got["from"].full == sender.boundjid.full and got["type"] == mtype,
            f"{what}: delivered with from={sender.boundjid.full} (stamped by the server, RFC 6120 §8.1.2.1) "
            f"and type {mtype}; got from={got['from']} type={got['type']} to={got['to']}",
        )
        r.fact(name + "_id_kept", got["id"] == mid)

    await deliver("alice_to_bob_bare", a, b, b.boundjid.bare, "chat", "bob's bare JID")
    await deliver("bob_to_alice_full", b, a, a.boundjid.full, "chat", "alice's full JID")
    await deliver("alice_to_bob_full", a, b, b.boundjid.full, "chat", "bob's full JID")
    await deliver("bob_to_alice_bare_normal", b, a, a.boundjid.bare, "normal", "alice's bare JID")


async def scenario_offline(ctx, r, args):
    """Messages to an offline account, delivered at its next initial presence."""
    a = ctx.client("alice", resource="offline")
    await login(r, a, "alice_logged_in")
    await step(r, "alice_online", a.go_online(), "initial presence and ping")
    r.check("alice_online", True, f"{a.boundjid} is available")
    bob = ctx.jid("bob")
    chat_body = f"while you were away {uuid.uuid4()}"
    normal_body = f"a normal one {uuid.uuid4()}"
    sent_at = dt.datetime.now(dt.timezone.utc)
    a.send_message(mto=bob, mbody=chat_body, mtype="chat")
    a.send_message(mto=bob, mbody=normal_body, mtype="normal")
    # The ping's answer comes after the server has handled both messages.
    await step(r, "messages_sent", a.sync(), "ping after sending")
    r.check(
        "messages_sent",
        a.inbox.find("message", lambda m: m["type"] == "error") is None,
        f"no error back for messages to an existing offline account (RFC 6121 §8.5.2.2); "
        f"alice received {a.inbox.describe()}",
    )

    b = ctx.client("bob", resource="offline")
    await login(r, b, "bob_logged_in")
    iq = await step(r, "not_before_presence", b.fetch_roster(), "roster get")
    await step(r, "not_before_presence", b.sync(), "ping")
    r.check(
        "not_before_presence",
        b.inbox.find("message", lambda m: True) is None and iq["type"] == "result",
        "stored messages wait for the next initial presence (XEP-0160, contract); "
        f"bob received before presence: {b.inbox.describe()}",
    )
    mb = b.inbox.mark()
    b.send_presence()
    got = await step(
        r,
        "offline_chat_delivered",
        b.inbox.wait("message", body_is(chat_body), f"the offline chat '{chat_body}'", since=mb),
        "offline chat message delivered at initial presence (RFC 6121 §8.5.2.2.1, XEP-0160)",
    )
    r.check(
        "offline_chat_delivered",
        got["type"] == "chat" and got["from"].bare == ctx.jid("alice"),
        f"type chat from alice; got type={got['type']} from={got['from']}",
    )
    delay = got["delay"] if got.xml.find("{urn:xmpp:delay}delay") is not None else None
    stamp = delay["stamp"] if delay is not None else None
    r.fact("delay_stamp", stamp.isoformat() if stamp else None)
    r.fact("delay_from", str(delay["from"]) if delay is not None and delay["from"] else None)
    r.check(
        "delay_stamp",
        stamp is not None and stamp.tzinfo is not None,
        "a <delay xmlns='urn:xmpp:delay' stamp='…'/> with a UTC stamp (XEP-0203, XEP-0160); "
        f"got {got}",
    )
    r.fact("delay_stamp_not_after_receipt", bool(stamp and stamp <= dt.datetime.now(dt.timezone.utc)))
    r.fact("sent_at", sent_at.isoformat())
    got = await step(
        r,
        "offline_normal_delivered",
        b.inbox.wait("message", body_is(normal_body), f"the offline normal message '{normal_body}'", since=mb),
        "offline normal message delivered at initial presence (RFC 6121 §8.5.2.2.1)",
    )
    r.check(
        "offline_normal_delivered",
        got.xml.find("{urn:xmpp:delay}delay") is not None,
        f"with a delay stamp; got {got}",
    )
    # Delivered once: not again at the next session.
    await b.logout()
    b2 = ctx.client("bob", resource="offline-again")
    await login(r, b2, "bob_logged_in_again")
    await step(r, "delivered_once", b2.go_online(), "initial presence and ping")
    await step(r, "delivered_once", b2.sync(), "second ping")
    again = b2.inbox.find("message", lambda m: m["body"] in (chat_body, normal_body))
    r.check(
        "delivered_once",
        again is None,
        f"delivered messages are removed from storage (XEP-0160); redelivered: {again}",
    )


async def scenario_disco_info(ctx, r, args):
    """disco#info on the server (XEP-0030 §3.1)."""
    a = ctx.client("alice", resource="disco")
    await login(r, a)
    try:
        iq = await a.plugin["xep_0030"].get_info(jid=ctx.domain, local=False, timeout=ctx.step_timeout)
    except IqError as e:
        iq = e.iq
    except IqTimeout:
        r.require("disco_info_result", False, "no reply to disco#info")
    r.require("disco_info_result", iq["type"] == "result", f"disco#info answered with a result; got {iq}")
    info = iq["disco_info"]
    features = sorted(info["features"])
    identities = [list(i) for i in info["identities"]]
    r.fact("features", features)
    r.fact("identities", identities)
    required = ["http://jabber.org/protocol/disco#info", "jabber:iq:version", "urn:xmpp:ping"]
    missing = [f for f in required if f not in features]
    r.check("disco_features", not missing, f"features include {required}; missing {missing}; got {features}")
    r.check(
        "disco_identity",
        len(identities) >= 1,
        f"at least one identity (XEP-0030 §3.1); got {identities}",
    )
    r.fact("identity_server_im", any(i[0] == "server" and i[1] == "im" for i in identities))


async def scenario_disco_items(ctx, r, args):
    """disco#items on the server, disco#info/#items on the account (XEP-0030)."""
    a = ctx.client("alice", resource="items")
    await login(r, a)

    async def query(kind, jid):
        try:
            if kind == "items":
                return await a.plugin["xep_0030"].get_items(jid=jid, local=False, timeout=ctx.step_timeout)
            return await a.plugin["xep_0030"].get_info(jid=jid, local=False, timeout=ctx.step_timeout)
        except IqError as e:
            return e.iq
        except IqTimeout:
            r.require(f"disco_{kind}_{jid}", False, f"no reply to disco#{kind} to {jid}")

    iq = await query("items", ctx.domain)
    items = [list(i) for i in iq["disco_items"]["items"]] if iq["type"] == "result" else None
    r.fact("server_items", items)
    r.check("server_items_result", iq["type"] == "result", f"disco#items on {ctx.domain} answered with a result (XEP-0030 §4); got {iq}")
    me = a.boundjid.bare
    iq = await query("info", me)
    identities = [list(i) for i in iq["disco_info"]["identities"]] if iq["type"] == "result" else None
    r.fact("account_identities", identities)
    r.check(
        "account_info_result",
        iq["type"] == "result" and bool(identities),
        f"disco#info on the own account {me} is answered by the server with an identity "
        f"(XEP-0030 §3, contract: disco on accounts); got {iq}",
    )
    r.fact("account_identity_registered", bool(identities) and any(i[0] == "account" and i[1] == "registered" for i in identities))
    iq = await query("items", me)
    r.check("account_items_result", iq["type"] == "result", f"disco#items on the own account {me} answered with a result; got {iq}")


async def scenario_ping(ctx, r, args):
    """XEP-0199 ping to the server."""
    a = ctx.client("alice", resource="ping")
    await login(r, a)
    try:
        # send_ping, not ping(): ping() counts an error from the own server
        # as a success.
        iq = await a.plugin["xep_0199"].send_ping(ctx.domain, timeout=ctx.step_timeout)
    except IqError as e:
        iq = e.iq
    except IqTimeout:
        r.require("ping_result", False, f"no reply to a ping to {ctx.domain}")
    r.check(
        "ping_result",
        iq["type"] == "result" and iq["from"].full in ("", ctx.domain),
        f"<iq type='result'/> from {ctx.domain} (XEP-0199 §4.2); got {iq}",
    )


async def scenario_version(ctx, r, args):
    """XEP-0092 software version of the server."""
    a = ctx.client("alice", resource="version")
    await login(r, a)
    try:
        iq = await a.plugin["xep_0092"].get_version(ctx.domain, timeout=ctx.step_timeout)
    except IqError as e:
        iq = e.iq
    except IqTimeout:
        r.require("version_result", False, "no reply to jabber:iq:version")
    r.require("version_result", iq["type"] == "result", f"jabber:iq:version answered with a result; got {iq}")
    v = iq["software_version"]
    r.fact("name", v["name"])
    r.fact("version", v["version"])
    r.fact("os", v["os"])
    r.check("version_name", v["name"] == "starling", f"name 'starling'; got {v['name']!r}")
    r.check("version_version", bool(v["version"]), f"a non-empty <version/> (XEP-0092 §2: REQUIRED); got {v['version']!r}")


async def scenario_error_iq(ctx, r, args):
    """An iq with an unknown payload to the server: <service-unavailable/>."""
    a = ctx.client("alice", resource="err-iq")
    await login(r, a)
    for itype in ("get", "set"):
        name = f"unknown_{itype}_service_unavailable"
        iq = a.Iq()
        iq["type"] = itype
        iq["to"] = ctx.domain
        iq.append(ET.Element(f"{{{UNKNOWN_NS}}}query"))
        sent_id = iq["id"]
        try:
            reply = await iq.send(timeout=ctx.step_timeout)
        except IqError as e:
            reply = e.iq
        except IqTimeout:
            r.check(name, False, f"no reply to an iq {itype} with an unknown payload (RFC 6120 §8.2.3 needs one)")
            continue
        r.check(
            name,
            reply["type"] == "error" and error_of(reply) == ("cancel", "service-unavailable") and reply["id"] == sent_id,
            f"iq type error, <service-unavailable/> of type cancel, same id (RFC 6120 §8.4); got {reply}",
        )


async def scenario_error_message(ctx, r, args):
    """Messages nobody can receive: an error back."""
    a = ctx.client("alice", resource="err-msg")
    await login(r, a)
    await step(r, "alice_online", a.go_online(), "initial presence and ping")

    async def bounce(name, to, condition, rule):
        body = f"{name} {uuid.uuid4()}"
        ma = a.inbox.mark()
        a.send_message(mto=to, mbody=body, mtype="chat")

        def pred(m):
            return m["type"] == "error" and m["from"].full == to

        got = await step(r, name, a.inbox.wait("message", pred, f"a message error from {to}", since=ma), f"{rule}")
        r.check(
            name,
            error_of(got)[1] == condition,
            f"message error from {to} with <{condition}/> ({rule}); got {got}",
        )

    await bounce(
        "nonexistent_user_service_unavailable",
        f"nobody@{ctx.domain}",
        "service-unavailable",
        "RFC 6121 §8.5.1: no such account",
    )
    await bounce(
        "remote_domain_not_found",
        "somebody@remote.example",
        "remote-server-not-found",
        "RFC 6120 §10.4, contract: no federation yet",
    )
    # An iq to a non-existent account (RFC 6121 §8.5.1).
    iq = a.Iq()
    iq["type"] = "get"
    iq["to"] = f"nobody@{ctx.domain}"
    iq.enable("ping")
    try:
        reply = await iq.send(timeout=ctx.step_timeout)
    except IqError as e:
        reply = e.iq
    except IqTimeout:
        reply = None
    r.check(
        "nonexistent_user_iq_service_unavailable",
        reply is not None and reply["type"] == "error" and error_of(reply)[1] == "service-unavailable",
        f"iq to a non-existent account: <service-unavailable/> (RFC 6121 §8.5.1); got {reply}",
    )


# -- XEP-0198 stream management (slixmpp's xep_0198) ---------------------------


def future_of(c, event):
    """A future set by the first ``event`` of ``c``."""
    fut = asyncio.get_running_loop().create_future()

    def done(data):
        if not fut.done():
            fut.set_result(data)

    c.add_event_handler(event, done)
    return fut


async def chat_to(sender, receiver, to, name):
    """Sends a chat message from ``sender`` to ``to``; its body and
    ``receiver``'s inbox mark from before it."""
    body = f"{name} {uuid.uuid4()}"
    since = receiver.inbox.mark()
    sender.make_message(mto=to, mbody=body, mtype="chat").send()
    return body, since


async def scenario_sm_resume(ctx, r, args):
    """XEP-0198: enabled with resumption, the connection broken without
    </stream>, messages sent meanwhile, resumed: every message arrives."""
    a = ctx.client("alice", resource="sm")
    a.register_plugin("xep_0198")
    enabled = future_of(a, "sm_enabled")
    await login(r, a, "alice_logged_in")
    st = await step(r, "sm_enabled", asyncio.wait_for(enabled, ctx.step_timeout), "<enabled/> after binding")
    r.check(
        "sm_enabled",
        bool(st["id"]) and str(st["resume"]).lower() in ("true", "1"),
        f"<enabled/> with an id and resume='true' (XEP-0198 §3); got {st}",
    )
    b = ctx.client("bob", resource="sm")
    await login(r, b, "bob_logged_in")
    await step(r, "bob_online", b.go_online(), "bob's initial presence")
    await step(r, "alice_online", a.go_online(), "alice's initial presence")
    full = a.boundjid.full
    for i in range(3):
        body, since = await chat_to(b, a, full, f"before-{i}")
        await step(
            r,
            "before_break",
            a.inbox.wait("message", body_is(body), f"message {body!r}", since=since),
            "a message before the break",
        )
    r.check("before_break", True, "3 messages arrived before the break")
    resumed = future_of(a, "session_resumed")
    a.abort()
    await asyncio.sleep(0.5)
    since = a.inbox.mark()
    bodies = []
    for i in range(5):
        body = f"during-{i} {uuid.uuid4()}"
        b.make_message(mto=full, mbody=body, mtype="chat").send()
        bodies.append(body)
    await step(r, "sent_during_break", b.sync(), "bob's messages processed")
    a.connect(ctx.host, ctx.port)
    await step(
        r,
        "sm_resumed",
        asyncio.wait_for(resumed, ctx.step_timeout),
        "<resumed/> on a new connection (XEP-0198 §5)",
    )
    r.check("sm_resumed", a.boundjid.full == full, f"the same session {full}; now {a.boundjid.full}")
    for body in bodies:
        await step(
            r,
            "messages_after_resumption",
            a.inbox.wait("message", body_is(body), f"message {body!r}", since=since),
            "a message sent during the break, after resumption",
        )
    got = [m["body"] for k, m in a.inbox.items[since:] if k == "message"]
    r.check(
        "messages_after_resumption",
        [x for x in got if x in bodies] == bodies,
        f"the 5 messages sent during the break, once each and in order; got {got}",
    )

# -- XEP-0280 carbons and XEP-0352 client state indication ------------------------

CARBONS_NS = "urn:xmpp:carbons:2"
FORWARD_NS = "urn:xmpp:forward:0"


def carbon_inner(msg, kind):
    """(from, to, body) of the message a carbon (``sent``/``received``) wraps."""
    inner = msg.xml.find(f"{{{CARBONS_NS}}}{kind}/{{{FORWARD_NS}}}forwarded/{{{CLIENT_NS}}}message")
    if inner is None:
        return None
    body = inner.find(f"{{{CLIENT_NS}}}body")
    return (inner.get("from"), inner.get("to"), body.text if body is not None else None)


def carbon_with(kind, body):
    return lambda m: (carbon_inner(m, kind) or (None, None, None))[2] == body


def carbons_client(ctx, user, resource):
    """A client with slixmpp's xep_0280 plugin, recording its carbon events."""
    c = ctx.client(user, resource=resource)
    c.register_plugin("xep_0280")
    for event in ("carbon_sent", "carbon_received"):
        c.add_event_handler(event, lambda m, event=event: c.inbox.push(event, m))
    return c


async def scenario_carbons(ctx, r, args):
    """XEP-0280: enable on two of alice's resources; sent and received carbons; disable."""
    a1 = carbons_client(ctx, "alice", "carb-1")
    a2 = carbons_client(ctx, "alice", "carb-2")
    b = ctx.client("bob", resource="carb-b")
    for c, name in ((a1, "alice1_logged_in"), (a2, "alice2_logged_in"), (b, "bob_logged_in")):
        await login(r, c, name)
        await step(r, name, c.go_online(), "initial presence and a ping")
    for c in (a1, a2):
        reply = await step(r, "carbons_enabled", c.plugin["xep_0280"].enable(timeout=ctx.step_timeout), "enable")
        r.require("carbons_enabled", reply["type"] == "result", f"<enable/> answered with a result (XEP-0280 §4); got {reply}")

    async def copied(name, kind, sender, to, section):
        """``sender`` writes to ``to``; alice's second resource gets the carbon."""
        body = f"{kind} {uuid.uuid4()}"
        since = a2.inbox.mark()
        sender.make_message(mto=to, mbody=body, mtype="chat").send()
        got = await step(
            r, name, a2.inbox.wait("carbon_" + kind, carbon_with(kind, body), f"a {kind} carbon", since=since),
            f"a {kind} carbon on alice's other resource (XEP-0280 {section})",
        )
        inner = carbon_inner(got, kind)
        r.check(
            name,
            got["from"].full == a1.boundjid.bare and inner[0] == sender.boundjid.full and inner[1] == str(to),
            f"{kind} carbon from alice's bare JID wrapping the message from {sender.boundjid.full} to {to}; "
            f"got from={got['from']} inner={inner}",
        )

    await copied("sent_carbon", "sent", a1, b.boundjid.full, "§8")
    await copied("received_carbon", "received", b, a1.boundjid.full, "§7")

    reply = await step(r, "carbons_disabled", a2.plugin["xep_0280"].disable(timeout=ctx.step_timeout), "disable")
    r.require("carbons_disabled", reply["type"] == "result", f"<disable/> answered with a result (XEP-0280 §5); got {reply}")
    body = f"after {uuid.uuid4()}"
    marker = f"marker {uuid.uuid4()}"
    since = a2.inbox.mark()
    b.make_message(mto=a1.boundjid.full, mbody=body, mtype="chat").send()
    b.make_message(mto=a2.boundjid.full, mbody=marker, mtype="chat").send()
    await step(r, "carbons_disabled", a2.inbox.wait("message", body_is(marker), "the marker", since=since), "the marker")
    leaked = a2.inbox.find("carbon_received", carbon_with("received", body), since)
    r.check("carbons_disabled", leaked is None, f"no carbon after <disable/> (XEP-0280 §5); got {leaked}")


async def scenario_csi(ctx, r, args):
    """XEP-0352: presence held while inactive, a body written at once after it, the rest at <active/>."""
    a = ctx.client("alice", resource="csi-a")
    a.register_plugin("xep_0352")
    b = ctx.client("bob", resource="csi-b")
    await login(r, a, "alice_logged_in")
    await login(r, b, "bob_logged_in")
    csi = a.plugin["xep_0352"]
    r.require("csi_offered", csi.enabled, "the <csi/> stream feature after authentication (XEP-0352 §3)")
    for c in (a, b):
        await step(r, "online", c.go_online(), "initial presence and a ping")
    csi.send_inactive()
    await step(r, "inactive", a.sync(), "a ping after <inactive/>")

    since = a.inbox.mark()
    b.send_presence(pto=a.boundjid.full, pshow="away")
    b.send_presence(pto=a.boundjid.full, pshow="dnd")
    body = f"urgent {uuid.uuid4()}"
    b.make_message(mto=a.boundjid.full, mbody=body, mtype="chat").send()
    await step(r, "body_at_once", a.inbox.wait("message", body_is(body), "the message with a body", since=since), "the body")
    items = a.inbox.items[since:]
    shows = [s["show"] for k, s in items if k == "presence" and s["from"] == b.boundjid]
    r.check(
        "held_presence_first",
        shows == ["dnd"] and items[-1][0] == "message",
        f"only the latest held presence (dnd), written before the message with a body; got shows {shows}, "
        f"received {a.inbox.describe(since)}",
    )

    since = a.inbox.mark()
    b.send_presence(pto=a.boundjid.full, pshow="xa")
    await step(r, "inactive_holds", b.sync(), "bob's ping")
    # A ping to alice's own account is answered on her stream at once; one
    # to the server comes through her queue, and like any urgent stanza
    # would have what is held written before it.
    own = a.Iq()
    own["type"] = "get"
    own.enable("ping")
    await step(r, "inactive_holds", a.request(own), "alice's ping to her account")
    held = a.inbox.find("presence", presence_from(b.boundjid, show="xa"), since)
    r.check("inactive_holds", held is None, f"presence held while inactive (XEP-0352 §5); got {held}")
    csi.send_active()
    await step(
        r, "active_flushes", a.inbox.wait("presence", presence_from(b.boundjid, show="xa"), "the held presence", since=since),
        "the held presence after <active/>",
    )
    r.check("active_flushes", True, "the held presence came after <active/>")
# -- XEP-0357 push notifications ---------------------------------------------------

PUBSUB_NS = "http://jabber.org/protocol/pubsub"
PUSH_NS = "urn:xmpp:push:0"
DATA_NS = "jabber:x:data"


def push_summary(iq):
    """(node, {field: value}) of a XEP-0357 notification iq, or None."""
    publish = iq.xml.find(f"{{{PUBSUB_NS}}}pubsub/{{{PUBSUB_NS}}}publish")
    if publish is None:
        return None
    form = publish.find(f"{{{PUBSUB_NS}}}item/{{{PUSH_NS}}}notification/{{{DATA_NS}}}x")
    fields = {}
    if form is not None:
        for f in form.findall(f"{{{DATA_NS}}}field"):
            v = f.find(f"{{{DATA_NS}}}value")
            fields[f.get("var")] = v.text if v is not None else None
    return publish.get("node"), fields


def act_as_app_server(c):
    """``c`` answers pubsub publishes with a result and keeps them in its
    inbox as "push"."""

    def on_publish(iq):
        if iq["type"] != "set":
            return
        c.inbox.push("push", iq)
        iq.reply().send()

    c.register_handler(
        Callback(
            "interop: push app server",
            MatchXPath(f"{{{CLIENT_NS}}}iq/{{{PUBSUB_NS}}}pubsub"),
            on_publish,
        )
    )


async def push_command(r, c, action, jid, node, section):
    """An XEP-0357 <enable/> or <disable/> iq set to the own account, which
    must be answered with a result (the check ``push_{action}d``). slixmpp
    1.17 has no xep_0357 plugin, so the payload is built here."""
    iq = c.Iq()
    iq["type"] = "set"
    iq.append(ET.Element(f"{{{PUSH_NS}}}{action}", {"jid": jid, "node": node}))
    check = f"push_{action}d"
    reply = await step(r, check, c.request(iq), action)
    r.require(check, reply["type"] == "result", f"<{action}/> answered with a result (XEP-0357 {section}); got {reply}")


async def scenario_push(ctx, r, args):
    """XEP-0357: bob enables notifications to alice's session (playing the
    app server), gets one for a message while offline, then disables
    them."""
    app = ctx.client("alice", resource="app")
    act_as_app_server(app)
    await login(r, app, "app_logged_in")
    await step(r, "app_online", app.go_online(), "initial presence and ping")
    bob = ctx.client("bob", resource="phone")
    await login(r, bob, "bob_logged_in")
    try:
        info = await bob.plugin["xep_0030"].get_info(jid=bob.boundjid.bare, local=False, timeout=ctx.step_timeout)
    except IqError as e:
        info = e.iq
    features = sorted(info["disco_info"]["features"]) if info["type"] == "result" else []
    r.check("push_feature", PUSH_NS in features, f"the account lists {PUSH_NS} (XEP-0357 §4); got {features}")
    node = f"interop-{uuid.uuid4()}"
    await push_command(r, bob, "enable", app.boundjid.full, node, "§5")
    await bob.logout()

    mark = app.inbox.mark()
    app.send_message(mto=ctx.jid("bob"), mbody="wake up", mtype="chat")
    got = await step(
        r,
        "notification_received",
        app.inbox.wait("push", lambda iq: push_summary(iq) is not None, "a push notification", since=mark),
        "a notification for a message to the offline account (XEP-0357 §7)",
    )
    got_node, fields = push_summary(got)
    r.fact("notification_fields", fields)
    r.check(
        "notification_received",
        got_node == node
        and got["from"].full == ctx.jid("bob")
        and fields.get("FORM_TYPE") == "urn:xmpp:push:summary"
        and fields.get("message-count") == "1"
        and fields.get("last-message-sender") == app.boundjid.full,
        f"publish to {node} from {ctx.jid('bob')} with message-count 1 and the sender; got node={got_node} from={got['from']} {fields}",
    )
    r.check("no_body", "last-message-body" not in fields, f"no body by default; got {fields}")

    bob2 = ctx.client("bob", resource="phone2")
    await login(r, bob2, "bob_logged_in_again")
    await push_command(r, bob2, "disable", app.boundjid.full, node, "§6")
    await bob2.logout()
    mark = app.inbox.mark()
    app.send_message(mto=ctx.jid("bob"), mbody="still there?", mtype="chat")
    # The notification would be queued before the ping's answer.
    await step(r, "no_notification_after_disable", app.sync(), "ping after the message")
    again = app.inbox.find("push", lambda iq: True, since=mark)
    r.check("no_notification_after_disable", again is None, f"nothing after <disable/>; got {again}")


SCENARIOS = {
    "login": scenario_login,
    "wrong-password": scenario_wrong_password,
    "roster": scenario_roster,
    "subscription": scenario_subscription,
    "presence": scenario_presence,
    "messages": scenario_messages,
    "offline": scenario_offline,
    "disco-info": scenario_disco_info,
    "disco-items": scenario_disco_items,
    "ping": scenario_ping,
    "version": scenario_version,
    "error-iq": scenario_error_iq,
    "error-message": scenario_error_message,
    "sm-resume": scenario_sm_resume,
    "carbons": scenario_carbons,
    "csi": scenario_csi,
    "push": scenario_push,
}


def runner(context_class, scenarios):
    """The coroutine function that runs ``args.scenario`` with a new
    ``context_class(args)`` and closes its clients at the end."""

    async def run(args, report):
        ctx = context_class(args)
        try:
            await scenarios[args.scenario](ctx, report, args)
        finally:
            await ctx.close_all()

    return run


def scenario_parser(doc, scenarios):
    """The arguments every scenario script takes (its accounts are its own)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", choices=sorted(scenarios))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--domain", default="localhost")
    parser.add_argument("--ca", required=True, help="PEM file: the only trusted CA (the server's certificate)")
    parser.add_argument("--step-timeout", type=float, default=15.0)
    parser.add_argument("--timeout", type=float, default=120.0, help="limit for the whole scenario")
    parser.add_argument("--log", help="file for slixmpp's debug log")
    parser.add_argument(
        "--reset",
        action="store_true",
        help="first empty the rosters of the accounts used (to rerun against the same server)",
    )
    return parser


def main():
    parser = scenario_parser(__doc__, SCENARIOS)
    parser.add_argument("--alice-password", required=True)
    parser.add_argument("--bob-password", required=True)
    parser.add_argument(
        "--mech",
        default="default",
        help="SASL mechanism for login and wrong-password: 'default' is slixmpp's own choice "
        "for login and SCRAM-SHA-256 for wrong-password",
    )
    args = parser.parse_args()
    execute(args, runner(Context, SCENARIOS), "interop.py")


def execute(args, run_scenario, prog):
    """Runs ``run_scenario(args, report)`` within ``--timeout`` (a watchdog
    ends the process if the event loop hangs), with slixmpp's log in
    ``--log``; prints the failures on standard error and the JSON report
    last on standard output, then exits with the documented status."""
    if args.log:
        logging.basicConfig(
            filename=args.log,
            level=logging.DEBUG,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
    else:
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    # Last resort if the event loop itself hangs: tracebacks, then exit.
    faulthandler.dump_traceback_later(args.timeout + 30, exit=True)

    report = Report(args.scenario)
    error = None
    code = 0
    try:
        asyncio.run(asyncio.wait_for(run_scenario(args, report), args.timeout))
    except StepFailed as e:
        error = f"stopped at check {e}"
    except asyncio.TimeoutError:
        error = f"the scenario did not finish within {args.timeout:.0f} s"
        code = 3
    except Exception as e:  # noqa: BLE001 - reported in the JSON
        error = f"unexpected {type(e).__name__}: {e}\n{traceback.format_exc()}"
    if code == 0 and (error is not None or not all(c["ok"] for c in report.checks)):
        code = 1
    if error:
        print(f"{prog} {args.scenario}: {error}", file=sys.stderr)
    for c in report.checks:
        if not c["ok"]:
            print(f"{prog} {args.scenario}: FAILED {c['name']}: {c['detail']}", file=sys.stderr)
    print(report.to_json(error), flush=True)
    sys.exit(code)


# -- XEP-0191 blocking (slixmpp's xep_0191 plugin) ------------------------------


def blocked_jids(iq):
    """The bare or full JIDs of a <blocklist/> result, as strings."""
    return sorted(str(item["jid"]) for item in iq["blocklist"])


async def scenario_blocking(ctx, r, args):
    """XEP-0191: get, block, the push, a blocked message both ways, unblock."""
    a, b = await two_online(ctx, r, "block")
    for c in (a, b):
        c.register_plugin("xep_0191")
    blocking = a.plugin["xep_0191"]
    pushes = []
    a.add_event_handler("blocked", lambda iq: pushes.append(("block", iq)))
    a.add_event_handler("unblocked", lambda iq: pushes.append(("unblock", iq)))
    bob = b.boundjid.bare

    got = await step(r, "blocklist_empty", blocking.get_blocked(timeout=ctx.step_timeout), "blocklist get")
    r.check(
        "blocklist_empty",
        got is not None and got["type"] == "result" and blocked_jids(got) == [],
        f"an empty <blocklist/> result (XEP-0191 §3.2); got {got}",
    )
    got = await step(r, "block_result", blocking.block([bob], timeout=ctx.step_timeout), "block")
    r.require("block_result", got is not None and got["type"] == "result", f"block: a result (§3.3); got {got}")
    got = await step(r, "blocklist_has_bob", blocking.get_blocked(timeout=ctx.step_timeout), "blocklist get")
    r.check(
        "blocklist_has_bob",
        got is not None and blocked_jids(got) == [bob],
        f"the list holds {bob} (§3.2); got {got}",
    )

    async def bounced(name, sender, to, condition, app, rule):
        body = f"{name} {uuid.uuid4()}"
        mark = sender.inbox.mark()
        sender.send_message(mto=to, mbody=body, mtype="chat")

        def pred(m):
            return m["type"] == "error" and m["from"].bare == to.bare

        got = await step(r, name, sender.inbox.wait("message", pred, f"a message error from {to}", since=mark), rule)
        has_app = app is None or got.xml.find(f"{{{CLIENT_NS}}}error/{app}") is not None
        r.check(
            name,
            error_of(got)[1] == condition and has_app,
            f"message error from {to} with <{condition}/> {app or ''} ({rule}); got {got}",
        )

    await bounced(
        "blocked_sender_service_unavailable",
        b,
        a.boundjid,
        "service-unavailable",
        None,
        "XEP-0191 §3.3: a message from a blocked JID",
    )
    await bounced(
        "message_to_blocked_not_acceptable",
        a,
        b.boundjid,
        "not-acceptable",
        "{urn:xmpp:blocking:errors}blocked",
        "XEP-0191 §3.3: a message to a blocked JID",
    )
    # The push was queued before the result; two round trips later it has
    # been handled.
    r.check(
        "block_push",
        any(kind == "block" and [str(i["jid"]) for i in iq["block"]] == [bob] for kind, iq in pushes),
        f"a <block/> push naming {bob} to the resource that asked for the list (§3.3); got {pushes}",
    )
    got = await step(r, "unblock_result", blocking.unblock([bob], timeout=ctx.step_timeout), "unblock")
    r.check("unblock_result", got is not None and got["type"] == "result", f"unblock: a result (§3.4); got {got}")
    body = f"after unblock {uuid.uuid4()}"
    ma = a.inbox.mark()
    b.send_message(mto=a.boundjid.full, mbody=body, mtype="chat")
    got = await step(
        r,
        "delivered_after_unblock",
        a.inbox.wait("message", body_is(body), f"message '{body}'", since=ma),
        "XEP-0191 §3.4: delivered once unblocked",
    )
    r.check("delivered_after_unblock", got is not None, f"bob's message arrives after the unblock; got {got}")


SCENARIOS["blocking"] = scenario_blocking


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""PEP and what a client keeps in its account, with slixmpp's plugins, one
scenario per run: XEP-0060/0163 (publish, notify, retrieve, retract,
publish-options, access models, last item on presence), XEP-0084 avatars,
XEP-0402 bookmarks (and the XEP-0048 view through XEP-0049), XEP-0049
private storage, XEP-0054 vCards, XEP-0153 vCard avatar hashes, XEP-0172
nicknames, XEP-0115 caps, and OMEMO (XEP-0384, ``slixmpp-omemo``) end to end.

Used by ``crates/starling-testkit/tests/pep_interop.rs`` against Prosody,
ejabberd and ``starling serve``; by hand against any server with three
accounts (``--alice``, ``--bob``, ``--carol`` name them; they should be new,
or ``--reset`` first empties their rosters)::

    python pep.py pubsub --port 5222 --domain localhost --ca ca.pem \\
        --alice a1 --alice-password A --bob b1 --bob-password B \\
        --carol c1 --carol-password C

Connections, the report (one JSON line), the exit status, the time limits
and ``--log`` are those of ``interop.py``, whose client and helpers this
script imports. Each check's detail names the XEP section it tests.
"""

import os
import tempfile

import interop

import pep_omemo
import pep_profile
import pep_pubsub


class Context(interop.Context):
    """interop's context with three accounts named on the command line."""

    def __init__(self, args):
        super().__init__(args)
        self.names = {"alice": args.alice, "bob": args.bob, "carol": args.carol}
        self.passwords = {
            args.alice: args.alice_password,
            args.bob: args.bob_password,
            args.carol: args.carol_password,
        }
        self.omemo_dir = args.omemo_dir

    def account(self, role, resource, plugins=()):
        """A client for ``role`` (alice, bob, carol) with extra plugins."""
        c = self.client(self.names[role], resource=resource)
        for plugin in plugins:
            c.register_plugin(plugin)
        return c


SCENARIOS = {}
for module in (pep_pubsub, pep_profile, pep_omemo):
    SCENARIOS.update(module.SCENARIOS)


def main():
    parser = interop.scenario_parser(__doc__, SCENARIOS)
    for role in ("alice", "bob", "carol"):
        parser.add_argument(f"--{role}", default=role, help=f"localpart of the {role} account")
        parser.add_argument(f"--{role}-password", required=True)
    parser.add_argument("--omemo-dir", help="directory for the OMEMO stores (default: a new temporary one)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="starling-omemo-") as tmp:
        if args.omemo_dir is None:
            args.omemo_dir = tmp
        os.makedirs(args.omemo_dir, exist_ok=True)
        interop.execute(args, interop.runner(Context, SCENARIOS), "pep.py")


if __name__ == "__main__":
    main()

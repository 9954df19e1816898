//! Who may see a node's items (XEP-0060 §4.5 access models, §6.5.9
//! errors): the owner always; others by the node's model — `open`
//! anyone, `presence` contacts subscribed to the owner's presence,
//! `roster` such contacts in an allowed group, `whitelist` those the
//! owner affiliated. An `outcast` never.

use starling_stanza::{AccessModel, PubSubError, StanzaError, StanzaErrorCondition as Cond};

use crate::storage::RosterEntry;

/// What the service knows of the requester.
#[derive(Debug, Clone, Copy)]
pub(super) struct Viewer<'a> {
    /// The owner (a session of the account).
    pub(super) owner: bool,
    /// The owner's roster item for the requester.
    pub(super) roster: Option<&'a RosterEntry>,
    /// The requester's affiliation with the node (`member`, `publisher`,
    /// `outcast`, …), as stored.
    pub(super) affiliation: Option<&'a str>,
}

/// Whether `v` may read a node with `access` and `groups`; the error to
/// answer when not.
pub(super) fn may_read(
    access: AccessModel,
    groups: &[String],
    v: Viewer<'_>,
) -> Result<(), StanzaError> {
    if v.owner {
        return Ok(());
    }
    if v.affiliation == Some("outcast") {
        return Err(StanzaError::new(Cond::Forbidden));
    }
    let subscribed = v.roster.is_some_and(|r| r.subscription.has_from());
    match access {
        AccessModel::Open => Ok(()),
        AccessModel::Presence if subscribed => Ok(()),
        AccessModel::Presence => Err(PubSubError::PresenceSubscriptionRequired.stanza_error()),
        AccessModel::Roster
            if subscribed
                && v.roster
                    .is_some_and(|r| r.groups.iter().any(|g| groups.contains(g))) =>
        {
            Ok(())
        }
        AccessModel::Roster => Err(PubSubError::NotInRosterGroup.stanza_error()),
        AccessModel::Whitelist | AccessModel::Authorize
            if matches!(
                v.affiliation,
                Some("member" | "publisher" | "owner" | "publish-only")
            ) =>
        {
            Ok(())
        }
        AccessModel::Whitelist | AccessModel::Authorize => {
            Err(PubSubError::ClosedNode.stanza_error())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::Subscription;

    fn entry(sub: Subscription, groups: &[&str]) -> RosterEntry {
        let mut e = RosterEntry::new("b@x".parse().unwrap());
        e.subscription = sub;
        e.groups = groups.iter().map(|g| (*g).to_owned()).collect();
        e
    }

    #[test]
    fn access_models() {
        let both = entry(Subscription::Both, &["Friends"]);
        let to = entry(Subscription::To, &["Friends"]);
        let from_work = entry(Subscription::From, &["Work"]);
        let groups = vec!["Friends".to_owned()];
        let v = |roster, affiliation| Viewer {
            owner: false,
            roster,
            affiliation,
        };
        let owner = Viewer {
            owner: true,
            roster: None,
            affiliation: None,
        };
        use AccessModel::*;
        let table: Vec<(AccessModel, Viewer<'_>, bool)> = vec![
            (Whitelist, owner, true),
            (Open, v(None, None), true),
            (Open, v(None, Some("outcast")), false),
            (Presence, v(Some(&both), None), true),
            (Presence, v(Some(&from_work), None), true),
            (Presence, v(Some(&to), None), false),
            (Presence, v(None, None), false),
            (Roster, v(Some(&both), None), true),
            (Roster, v(Some(&from_work), None), false),
            (Roster, v(Some(&to), None), false),
            (Whitelist, v(Some(&both), None), false),
            (Whitelist, v(None, Some("member")), true),
            (Whitelist, v(None, Some("publisher")), true),
        ];
        for (i, (model, viewer, ok)) in table.into_iter().enumerate() {
            assert_eq!(
                may_read(model, &groups, viewer).is_ok(),
                ok,
                "row {i}: {model:?}"
            );
        }
        let err = may_read(Presence, &groups, v(None, None)).unwrap_err();
        assert_eq!(err.condition, Cond::NotAuthorized);
        let err = may_read(Whitelist, &groups, v(None, None)).unwrap_err();
        assert_eq!(err.condition, Cond::NotAllowed);
    }
}

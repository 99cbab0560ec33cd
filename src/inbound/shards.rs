//! The sharded write path's decisions: how many shards a deployment runs
//! (`SHARDS`), which shard takes a delivery (by its channel), and which of a
//! shard's waiting deliveries are written together in one D1 batch.
//!
//! A shard is a Durable Object (`edge::writer`) that every delivery of its
//! channels passes through. It writes to the same D1 database as the direct
//! path, so reads, exactly-once and auto-replies are unchanged; what it adds
//! is that deliveries arriving while a batch is in flight are written
//! together in the next one, one transaction for many deliveries.

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The most shards a deployment may run.
pub const MAX_SHARDS: u32 = 64;

/// A group's statements stay under D1's 50 queries per invocation on the
/// Free plan, with room for the few reads a delivery may need.
pub const GROUP_STATEMENTS: usize = 40;

/// A group's bodies together; a bigger delivery is written alone.
pub const GROUP_BYTES: usize = 512 * 1024;

/// The most deliveries one group prepares and writes.
pub const GROUP_DELIVERIES: usize = 16;

/// The most bytes of bodies the shards of one isolate hold waiting, those
/// being written included: the isolate has 128 MB, shared by the shards it
/// runs, and a burst of big deliveries (history, backfills) must not take
/// it past that, which would fail every delivery waiting there.
pub const QUEUE_BYTES: usize = 32 * 1024 * 1024;

/// The least a waiting delivery counts against [`QUEUE_BYTES`]: it holds
/// more than its body (its request, its place in the queue), so a flood of
/// tiny deliveries is bounded too (at most 8,192 waiting per isolate).
pub const ENTRY_BYTES: usize = 4 * 1024;

/// What a waiting delivery of `body` bytes counts against [`QUEUE_BYTES`].
pub fn charge(body: usize) -> usize {
    body.max(ENTRY_BYTES)
}

/// Whether a shard takes a delivery of `body` bytes while its isolate's
/// shards hold `queued` bytes waiting (their [`charge`]s): always when it
/// is `idle` (nothing waits in it), so any delivery the webhook accepts is
/// taken by an idle shard. One it does not take is not acknowledged, and
/// Meta delivers it again.
pub fn takes(idle: bool, queued: usize, body: usize) -> bool {
    idle || queued.saturating_add(charge(body)) <= QUEUE_BYTES
}

/// `SHARDS` as set: unset or empty is 1 (the direct path); a number from 1
/// to [`MAX_SHARDS`] is that many; anything else is `None`, which the
/// caller reports and treats as 1.
pub fn parse_count(value: Option<&str>) -> Option<u32> {
    match value.map(str::trim) {
        None | Some("") => Some(1),
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_SHARDS).contains(n)),
    }
}

/// The channel a delivery is sharded by: the `phone_number_id` of its first
/// change that names one, as a string or a number (the webhook reads both).
/// In Meta's shape only that field is read and the rest of the body is
/// skipped, not built; any other shape the webhook still ingests change by
/// change (`changes: null` in one entry, a non-string id in another) is
/// walked as a [`serde_json::Value`], so the shard is the one its channel's
/// other deliveries go to.
pub fn channel_of(body: &[u8]) -> Option<String> {
    channel_in_shape(body).unwrap_or_else(|| channel_in_value(body))
}

/// [`channel_of`] for a body in Meta's exact shape (`Some`, naming a
/// channel or none); `None` for any other shape.
fn channel_in_shape(body: &[u8]) -> Option<Option<String>> {
    #[derive(Deserialize)]
    struct Body {
        #[serde(default)]
        entry: Vec<Entry>,
    }
    #[derive(Deserialize)]
    struct Entry {
        #[serde(default)]
        changes: Vec<Change>,
    }
    #[derive(Deserialize)]
    struct Change {
        value: Option<Value>,
    }
    #[derive(Deserialize)]
    struct Value {
        metadata: Option<Metadata>,
    }
    #[derive(Deserialize)]
    struct Metadata {
        phone_number_id: Option<String>,
    }
    let body: Body = serde_json::from_slice(body).ok()?;
    Some(
        body.entry
            .into_iter()
            .flat_map(|e| e.changes)
            .find_map(|c| c.value?.metadata?.phone_number_id),
    )
}

/// [`channel_of`] for a body of any JSON shape.
fn channel_in_value(body: &[u8]) -> Option<String> {
    use serde_json::Value;
    let body: Value = serde_json::from_slice(body).ok()?;
    body.get("entry")?
        .as_array()?
        .iter()
        .filter_map(|e| e.get("changes")?.as_array())
        .flatten()
        .find_map(|c| match c.pointer("/value/metadata/phone_number_id")? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
}

/// The shard (0 to `shards - 1`) that takes deliveries of `channel`; a
/// delivery naming no channel goes to shard 0.
pub fn shard_of(channel: Option<&str>, shards: u32) -> u32 {
    let shards = shards.clamp(1, MAX_SHARDS);
    let Some(channel) = channel else { return 0 };
    let digest = Sha256::digest(channel.as_bytes());
    let mut first = [0u8; 4];
    first.copy_from_slice(digest.get(..4).unwrap_or(&[0; 4]));
    u32::from_be_bytes(first) % shards
}

/// The Durable Object name of shard `shard`.
pub fn object_name(shard: u32) -> String {
    format!("shard-{shard}")
}

/// A waiting delivery, as the grouping sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// Its auto-replies are decided from D1 (rules or an opt keyword):
    /// it is written alone, after everything before it, so the decision
    /// sees their rows.
    pub alone: bool,
    /// Statements in its batch.
    pub statements: usize,
    /// Body size.
    pub bytes: usize,
}

/// The deliveries written in one batch, built from the front of a shard's
/// queue: the first always, then each next one that fits.
#[derive(Debug, Default)]
pub struct Group {
    members: usize,
    statements: usize,
    bytes: usize,
    closed: bool,
}

impl Group {
    /// Adds `next` when it fits and answers whether it did; once a
    /// candidate does not fit, the group is closed, so no later delivery
    /// overtakes it.
    pub fn admit(&mut self, next: Candidate) -> bool {
        let fits = self.has_room(next.bytes)
            && (self.members == 0
                || (!next.alone && self.statements + next.statements <= GROUP_STATEMENTS));
        if fits {
            self.members += 1;
            self.statements += next.statements;
            self.bytes += next.bytes;
            self.closed |= next.alone;
        } else {
            self.closed = true;
        }
        fits
    }

    /// Whether a delivery of `bytes` could still join, whatever it holds:
    /// when not, it need not be planned to be left for the next group.
    pub fn has_room(&self, bytes: usize) -> bool {
        self.members == 0 || (!self.is_closed() && self.bytes.saturating_add(bytes) <= GROUP_BYTES)
    }

    /// Whether nothing more can join.
    pub fn is_closed(&self) -> bool {
        self.closed || self.members >= GROUP_DELIVERIES
    }

    /// How many deliveries it holds.
    pub fn len(&self) -> usize {
        self.members
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.members == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_shard_takes_deliveries_up_to_its_isolate_s_bytes_and_any_one_when_idle() {
        assert!(takes(true, 0, usize::MAX));
        assert!(takes(true, usize::MAX, usize::MAX));
        let big = ENTRY_BYTES * 2;
        assert!(takes(false, QUEUE_BYTES - big, big));
        assert!(!takes(false, QUEUE_BYTES - big, big + 1));
        assert!(!takes(false, usize::MAX, 1));
        assert!(takes(false, 1, 0));
    }

    #[test]
    fn a_tiny_delivery_counts_as_an_entry_s_least() {
        assert_eq!(charge(0), ENTRY_BYTES);
        assert_eq!(charge(10), ENTRY_BYTES);
        assert_eq!(charge(ENTRY_BYTES + 1), ENTRY_BYTES + 1);
        // A queue of tiny deliveries fills at QUEUE_BYTES / ENTRY_BYTES.
        let mut queued = 0;
        let mut waiting = 0;
        while takes(waiting == 0, queued, 2) {
            queued += charge(2);
            waiting += 1;
        }
        assert_eq!(waiting, QUEUE_BYTES / ENTRY_BYTES);
    }

    #[test]
    fn shards_are_one_unless_set_to_a_number_in_range() {
        assert_eq!(parse_count(None), Some(1));
        assert_eq!(parse_count(Some(" ")), Some(1));
        assert_eq!(parse_count(Some("4")), Some(4));
        assert_eq!(parse_count(Some(" 64 ")), Some(64));
        for bad in ["0", "65", "-1", "four", "4.0", "1e2"] {
            assert_eq!(parse_count(Some(bad)), None, "{bad}");
        }
    }

    #[test]
    fn the_channel_is_the_first_change_that_names_one() {
        let body = br#"{"object":"whatsapp_business_account","entry":[
            {"id":"1","changes":[{"field":"account_update","value":{"event":"x"}}]},
            {"id":"2","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"111"}}},
                                 {"field":"messages","value":{"metadata":{"phone_number_id":"222"}}}]}]}"#;
        assert_eq!(channel_of(body).as_deref(), Some("111"));
        assert_eq!(channel_of(br#"{"entry":[]}"#), None);
        // A change that names no channel, in Meta's shape, is read once.
        assert_eq!(
            channel_in_shape(
                br#"{"entry":[{"changes":[{"field":"account_update","value":{"event":"x"}}]}]}"#
            ),
            Some(None)
        );
        assert_eq!(channel_in_shape(br#"{"entry":[{"changes":null}]}"#), None);
        assert_eq!(channel_of(b"not json"), None);
        assert_eq!(
            channel_of(
                br#"{"entry":[{"changes":[{"value":{"metadata":{"phone_number_id":[7]}}}]}]}"#
            ),
            None
        );
    }

    #[test]
    fn an_odd_shape_still_finds_the_channel_the_webhook_ingests() {
        // Each of these fails the exact shape; the webhook still ingests
        // the valid change, so the shard must be that change's channel's.
        for body in [
            &br#"{"entry":[{"changes":null},{"changes":[{"value":{"metadata":{"phone_number_id":"333"}}}]}]}"#[..],
            br#"{"entry":[{"changes":[{"value":{"metadata":{"phone_number_id":false}}},{"value":{"metadata":{"phone_number_id":"333"}}}]}]}"#,
            br#"{"entry":[{"changes":[{"value":"text"},{"value":{"metadata":{"phone_number_id":"333"}}}]}]}"#,
            br#"{"entry":[7,{"changes":[{"value":{"metadata":{"phone_number_id":"333"}}}]}]}"#,
            br#"{"entry":[{"changes":[{"value":{"metadata":{"phone_number_id":333}}}]}]}"#,
        ] {
            assert_eq!(
                channel_of(body).as_deref(),
                Some("333"),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert_eq!(channel_of(br#"{"entry":{"changes":[]}}"#), None);
        assert_eq!(channel_of(br#"[1,2]"#), None);
    }

    #[test]
    fn an_alone_delivery_shares_no_batch() {
        let small = Candidate {
            alone: false,
            statements: 5,
            bytes: 2000,
        };
        let alone = Candidate {
            alone: true,
            ..small
        };
        let mut g = Group::default();
        assert!(g.admit(small));
        assert!(!g.admit(alone));
        assert!(!g.admit(small), "nothing overtakes the refused one");
        let mut g = Group::default();
        assert!(g.admit(alone));
        assert!(g.is_closed());
        assert!(!g.admit(small));
    }

    fn candidate() -> impl Strategy<Value = Candidate> {
        (any::<bool>(), 1usize..60, 1usize..1_500_000).prop_map(|(alone, statements, bytes)| {
            Candidate {
                alone,
                statements,
                bytes,
            }
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn shards_stay_in_range_and_are_stable(channel in "[0-9]{1,20}", shards in 1u32..=MAX_SHARDS) {
            let s = shard_of(Some(&channel), shards);
            prop_assert!(s < shards);
            prop_assert_eq!(s, shard_of(Some(&channel), shards));
            prop_assert_eq!(shard_of(Some(&channel), 1), 0);
        }

        #[test]
        fn channel_of_never_panics(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = channel_of(&body);
        }

        /// Whatever else a delivery holds around it, the first change that
        /// names a channel decides the shard.
        #[test]
        fn the_first_named_channel_wins_in_any_shape(
            noise in proptest::collection::vec(prop_oneof![
                Just("null".to_owned()),
                Just(r#"{"value":null}"#.to_owned()),
                Just(r#"{"value":{"metadata":{}}}"#.to_owned()),
                Just(r#"{"value":{"metadata":{"phone_number_id":null}}}"#.to_owned()),
                Just(r#"{"value":{"metadata":{"phone_number_id":{"a":1}}}}"#.to_owned()),
                "[a-z]{0,8}".prop_map(|s| format!(r#"{{"field":"{s}"}}"#)),
            ], 0..6),
            channel in "[0-9]{1,20}",
            later in "[0-9]{1,20}",
        ) {
            let mut changes = noise.clone();
            changes.push(format!(r#"{{"value":{{"metadata":{{"phone_number_id":"{channel}"}}}}}}"#));
            changes.push(format!(r#"{{"value":{{"metadata":{{"phone_number_id":"{later}"}}}}}}"#));
            let body = format!(r#"{{"entry":[{{"changes":[{}]}}]}}"#, changes.join(","));
            prop_assert_eq!(channel_of(body.as_bytes()), Some(channel));
        }

        /// Groups are a prefix in queue order; a group of several holds no
        /// alone delivery and stays within every cap.
        #[test]
        fn groups_respect_order_and_caps(queue in proptest::collection::vec(candidate(), 1..40)) {
            let mut g = Group::default();
            let mut taken = Vec::new();
            for c in &queue {
                if g.admit(*c) {
                    taken.push(*c);
                }
            }
            prop_assert_eq!(&queue[..taken.len()], &taken[..]);
            prop_assert!(!taken.is_empty());
            // A delivery without room would not have been admitted.
            let mut g = Group::default();
            for c in &queue {
                let room = g.has_room(c.bytes);
                let admitted = g.admit(*c);
                prop_assert!(room || !admitted, "{:?} admitted without room", c);
            }
            if taken.len() > 1 {
                prop_assert!(taken.iter().all(|c| !c.alone));
                prop_assert!(taken.len() <= GROUP_DELIVERIES);
                prop_assert!(taken.iter().map(|c| c.statements).sum::<usize>() <= GROUP_STATEMENTS);
                prop_assert!(taken.iter().map(|c| c.bytes).sum::<usize>() <= GROUP_BYTES);
            }
        }
    }
}

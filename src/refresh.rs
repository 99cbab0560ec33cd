//! When an isolate reloads a value it keeps for a while (its channels,
//! rules, destinations, the erasure salt): a fresh value is used as it is;
//! of the callers that find it stale, one reloads it and the others use
//! the stale value meanwhile (for at most [`RELOAD_MAX_MS`], in case that
//! reload never ends), so a busy isolate whose cache expires makes one
//! read, not one per delivery in flight. A caller that finds nothing kept
//! loads it itself, even while another does: workerd lets a request wait
//! only on its own I/O, and a request left waiting for another's load is
//! cancelled as hung. [`Slot`] decides; `edge::cache` loads.

/// How long a stale value stands in while one caller reloads it; past
/// that, the next caller reloads it too.
pub const RELOAD_MAX_MS: i64 = 5_000;

/// A kept value and the latest load of it.
pub struct Slot<T> {
    kept: Option<(i64, T)>,
    /// The load that began last and has not ended (its ticket's id), and
    /// when it began. Cleared by [`Slot::clear`].
    reloading: Option<(u64, i64)>,
    /// The id of the load begun last.
    loads: u64,
    /// The first load whose value may be kept: one that began before a
    /// [`Slot::clear`] answers its own caller but is not kept.
    first_kept: u64,
}

/// What a caller does next.
#[derive(Debug, PartialEq)]
pub enum Next<T> {
    /// Use this value (fresh, or stale while another caller reloads it).
    Use(T),
    /// Load it, then hand the result to [`Slot::finish`] with this ticket.
    Load(Ticket),
}

/// The right to finish one load.
#[derive(Debug, PartialEq)]
pub struct Ticket {
    id: u64,
}

impl<T: Clone> Slot<T> {
    pub const fn new() -> Self {
        Slot {
            kept: None,
            reloading: None,
            loads: 0,
            first_kept: 0,
        }
    }

    /// What a caller at `now` does when a value lives `ttl_ms`.
    pub fn next(&mut self, now: i64, ttl_ms: i64) -> Next<T> {
        let reloading = self
            .reloading
            .is_some_and(|(_, began)| now.saturating_sub(began) < RELOAD_MAX_MS);
        match &self.kept {
            Some((at, value)) if now.saturating_sub(*at) < ttl_ms => Next::Use(value.clone()),
            Some((_, stale)) if reloading => Next::Use(stale.clone()),
            _ => {
                self.loads = self.loads.saturating_add(1);
                self.reloading = Some((self.loads, now));
                Next::Load(Ticket { id: self.loads })
            }
        }
    }

    /// Ends the load of `ticket`: `loaded` is kept as read at `at`, unless
    /// the slot was cleared since the load began or holds a later read
    /// (`None`: the load failed, or its value is not to be kept).
    pub fn finish(&mut self, ticket: Ticket, at: i64, loaded: Option<T>) {
        if self.reloading.is_some_and(|(id, _)| id == ticket.id) {
            self.reloading = None;
        }
        let newer = self.kept.as_ref().is_none_or(|(kept_at, _)| at >= *kept_at);
        if let Some(value) = loaded.filter(|_| ticket.id >= self.first_kept && newer) {
            self.kept = Some((at, value));
        }
    }

    /// Forgets the kept value (after an edit); a load already running is
    /// not kept when it ends.
    pub fn clear(&mut self) {
        self.kept = None;
        self.reloading = None;
        self.first_kept = self.loads.saturating_add(1);
    }
}

impl<T: Clone> Default for Slot<T> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type S = Slot<u32>;

    fn load(s: &mut S, now: i64) -> Ticket {
        match s.next(now, 10) {
            Next::Load(t) => t,
            other => panic!("expected a load, got {other:?}"),
        }
    }

    #[test]
    fn a_stale_value_serves_the_others_while_one_caller_reloads_it() {
        let mut s = S::new();
        let t = load(&mut s, 0);
        s.finish(t, 0, Some(7));
        assert_eq!(s.next(9, 10), Next::Use(7));
        let t = load(&mut s, 10);
        assert_eq!(s.next(11, 10), Next::Use(7));
        assert_eq!(s.next(12, 10), Next::Use(7));
        s.finish(t, 10, Some(8));
        assert_eq!(s.next(13, 10), Next::Use(8));
    }

    #[test]
    fn a_reload_that_never_ends_is_relied_on_only_for_a_while() {
        let mut s = S::new();
        let t = load(&mut s, 0);
        s.finish(t, 0, Some(7));
        let _hung = load(&mut s, 10);
        assert_eq!(s.next(10 + RELOAD_MAX_MS - 1, 10), Next::Use(7));
        let t = load(&mut s, 10 + RELOAD_MAX_MS);
        assert_eq!(s.next(11 + RELOAD_MAX_MS, 10), Next::Use(7));
        s.finish(t, 10 + RELOAD_MAX_MS, Some(8));
        assert_eq!(s.next(12 + RELOAD_MAX_MS, 10), Next::Use(8));
    }

    #[test]
    fn callers_that_find_nothing_each_load_and_the_latest_read_is_kept() {
        let mut s = S::new();
        let first = load(&mut s, 0);
        let second = load(&mut s, 1);
        s.finish(second, 1, Some(2));
        s.finish(first, 0, Some(1));
        assert_eq!(s.next(2, 10), Next::Use(2));
    }

    #[test]
    fn a_failed_load_keeps_nothing_and_the_next_caller_loads_again() {
        let mut s = S::new();
        let t = load(&mut s, 0);
        s.finish(t, 0, Some(7));
        let t = load(&mut s, 10);
        s.finish(t, 10, None);
        load(&mut s, 11);
    }

    #[test]
    fn a_load_begun_before_a_clear_is_not_kept_nor_waited_for() {
        let mut s = S::new();
        let t = load(&mut s, 0);
        s.finish(t, 0, Some(7));
        let before = load(&mut s, 20);
        s.clear();
        let after = load(&mut s, 21);
        s.finish(after, 21, Some(9));
        // Stale again, with only the load from before the clear running:
        // it is not relied on.
        load(&mut s, 31);
        s.finish(before, 20, Some(8));
        assert_eq!(s.next(32, 10), Next::Use(9));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Ask(i64),
        Finish(usize, bool),
        Clear,
    }

    proptest! {
        // Whatever callers, loads (some never ending) and clears happen: a
        // value used was kept since the last clear, by the latest read; a
        // stale one is used only while the load begun last since the
        // clear runs, begun less than RELOAD_MAX_MS ago, and only then is
        // a stale value not reloaded.
        #[test]
        fn one_reload_of_a_stale_value_at_a_time(ops in proptest::collection::vec(
            prop_oneof![
                (0i64..2_500).prop_map(Op::Ask),
                (0usize..4, any::<bool>()).prop_map(|(i, ok)| Op::Finish(i, ok)),
                Just(Op::Clear),
            ],
            0..80,
        )) {
            const TTL: i64 = 1_000;
            let mut s = S::new();
            // Loads in flight: ticket, begun at, cleared since, order begun.
            let mut running: Vec<(Ticket, i64, bool, u64)> = Vec::new();
            let mut begun = 0u64;
            let mut now = 0i64;
            let mut kept: Option<(i64, u32)> = None;
            let mut next_value = 0u32;
            for op in ops {
                match op {
                    Op::Ask(dt) => {
                        now += dt;
                        // The load a stale value may wait for: the last
                        // begun, if it runs, began since the clear, and
                        // began less than RELOAD_MAX_MS ago.
                        let relied_on = running
                            .iter()
                            .any(|&(_, at, cleared, n)| n == begun && !cleared && now - at < RELOAD_MAX_MS);
                        let fresh = kept.is_some_and(|(at, _)| now - at < TTL);
                        match s.next(now, TTL) {
                            Next::Load(t) => {
                                prop_assert!(!fresh, "a fresh value was reloaded");
                                prop_assert!(kept.is_none() || !relied_on, "a second reload of a stale value");
                                begun += 1;
                                running.push((t, now, false, begun));
                            }
                            Next::Use(v) => {
                                let (_, k) = kept.expect("a value was used with none kept");
                                prop_assert_eq!(v, k);
                                prop_assert!(fresh || relied_on, "a stale value was used with no reload to wait for");
                            }
                        }
                    }
                    Op::Finish(i, ok) => {
                        if !running.is_empty() {
                            let (t, at, cleared, _) = running.remove(i % running.len());
                            next_value += 1;
                            s.finish(t, at, ok.then_some(next_value));
                            if ok && !cleared && kept.is_none_or(|(k, _)| at >= k) {
                                kept = Some((at, next_value));
                            }
                        }
                    }
                    Op::Clear => {
                        s.clear();
                        kept = None;
                        for r in running.iter_mut() {
                            r.2 = true;
                        }
                    }
                }
            }
        }
    }
}

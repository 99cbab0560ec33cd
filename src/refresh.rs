//! When an isolate reloads a value it keeps for a while (its channels,
//! rules, destinations, the erasure salt): a fresh value is used as it is;
//! of the callers that find it stale, one reloads it and the others use
//! the stale value meanwhile, so a busy isolate whose cache expires makes
//! one read, not one per delivery in flight. A caller that finds nothing
//! kept loads it itself, even while another does: workerd lets a request
//! wait only on its own I/O, and a request left waiting for another's
//! load is cancelled as hung. [`Slot`] decides; `edge::cache` loads.

/// A kept value and the loads of it in flight.
pub struct Slot<T> {
    kept: Option<(i64, T)>,
    loading: u32,
    /// Bumped by [`Slot::clear`]: a load that started before a clear
    /// answers its own caller but is not kept.
    generation: u64,
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
    generation: u64,
}

impl<T: Clone> Slot<T> {
    pub const fn new() -> Self {
        Slot {
            kept: None,
            loading: 0,
            generation: 0,
        }
    }

    /// What a caller at `now` does when a value lives `ttl_ms`.
    pub fn next(&mut self, now: i64, ttl_ms: i64) -> Next<T> {
        match &self.kept {
            Some((at, value)) if now.saturating_sub(*at) < ttl_ms => Next::Use(value.clone()),
            Some((_, stale)) if self.loading > 0 => Next::Use(stale.clone()),
            _ => {
                self.loading = self.loading.saturating_add(1);
                Next::Load(Ticket {
                    generation: self.generation,
                })
            }
        }
    }

    /// Ends the load of `ticket`: `loaded` is kept as read at `at`, unless
    /// the slot was cleared since the load began or holds a later read
    /// (`None`: the load failed, or its value is not to be kept).
    pub fn finish(&mut self, ticket: Ticket, at: i64, loaded: Option<T>) {
        self.loading = self.loading.saturating_sub(1);
        let newer = self.kept.as_ref().is_none_or(|(kept_at, _)| at >= *kept_at);
        if let Some(value) = loaded.filter(|_| ticket.generation == self.generation && newer) {
            self.kept = Some((at, value));
        }
    }

    /// Forgets the kept value (after an edit); a load already running is
    /// not kept when it ends.
    pub fn clear(&mut self) {
        self.kept = None;
        self.generation = self.generation.wrapping_add(1);
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
    fn a_load_begun_before_a_clear_is_not_kept() {
        let mut s = S::new();
        let t = load(&mut s, 0);
        s.finish(t, 0, Some(7));
        let t = load(&mut s, 20);
        s.clear();
        let after = load(&mut s, 21);
        s.finish(t, 20, Some(8));
        load(&mut s, 22);
        s.finish(after, 21, Some(9));
        assert_eq!(s.next(23, 10), Next::Use(9));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Ask(i64),
        Finish(usize, bool),
        Clear,
    }

    proptest! {
        // Whatever callers, loads and clears happen: a stale value is
        // reloaded by one caller at a time, a value used was kept since
        // the last clear by a load begun after it, and nothing is used
        // stale once its reload has ended.
        #[test]
        fn one_reload_of_a_stale_value_at_a_time(ops in proptest::collection::vec(
            prop_oneof![
                (0i64..25).prop_map(Op::Ask),
                (0usize..4, any::<bool>()).prop_map(|(i, ok)| Op::Finish(i, ok)),
                Just(Op::Clear),
            ],
            0..80,
        )) {
            let mut s = S::new();
            // Loads in flight: ticket, begun at, cleared since.
            let mut running: Vec<(Ticket, i64, bool)> = Vec::new();
            let mut now = 0i64;
            let mut kept: Option<(i64, u32)> = None;
            let mut next_value = 0u32;
            for op in ops {
                match op {
                    Op::Ask(dt) => {
                        now += dt;
                        match s.next(now, 10) {
                            Next::Load(t) => {
                                let stale = kept.is_some_and(|(at, _)| now - at >= 10);
                                prop_assert!(!stale || running.is_empty(), "a second reload of a stale value");
                                running.push((t, now, false));
                            }
                            Next::Use(v) => {
                                let (at, k) = kept.expect("a value was used with none kept");
                                prop_assert_eq!(v, k);
                                prop_assert!(now - at < 10 || !running.is_empty());
                            }
                        }
                    }
                    Op::Finish(i, ok) => {
                        if !running.is_empty() {
                            let (t, at, cleared) = running.remove(i % running.len());
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

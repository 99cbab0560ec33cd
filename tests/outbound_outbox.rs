//! How a run of claimed outbox rows is spread over parallel sends.

use proptest::prelude::*;
use std::collections::BTreeMap;
use wa_edge::outbound::outbox::{waves, PARALLEL_PER_NUMBER, PARALLEL_SENDS};

fn lanes(spec: &[(u8, u8)]) -> Vec<(u8, u8)> {
    spec.to_vec()
}

#[test]
fn rows_to_different_people_go_together_and_one_persons_go_in_order() {
    // Number 1: A, A, B, C; number 2: D.
    let rows = lanes(&[(1, 1), (1, 1), (1, 2), (1, 3), (2, 4)]);
    let w = waves(&rows, 6, 4);
    assert_eq!(w, vec![vec![0, 2, 3, 4], vec![1]]);
}

#[test]
fn one_number_is_held_to_its_share_and_the_total_to_the_connection_limit() {
    let rows: Vec<(u8, u8)> = (0..10)
        .map(|r| (1, r))
        .chain((0..10).map(|r| (2, r)))
        .collect();
    let w = waves(&rows, PARALLEL_SENDS, PARALLEL_PER_NUMBER);
    let first = w.first().expect("a wave");
    assert_eq!(first.len(), PARALLEL_SENDS);
    let of_one = first.iter().filter(|&&i| rows[i].0 == 1).count();
    assert_eq!(of_one, PARALLEL_PER_NUMBER);
}

#[test]
fn no_rows_no_waves() {
    assert!(waves::<u8>(&[], 6, 4).is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn every_row_once_within_limits_and_in_order_per_person(
        rows in prop::collection::vec((0u8..4, 0u8..6), 0..60),
        total in 1usize..8,
        per_number in 1usize..6,
    ) {
        let w = waves(&rows, total, per_number);
        let mut seen = vec![None; rows.len()];
        for (n, wave) in w.iter().enumerate() {
            prop_assert!(!wave.is_empty() && wave.len() <= total);
            let mut per: BTreeMap<u8, usize> = BTreeMap::new();
            let mut people = std::collections::BTreeSet::new();
            for &i in wave {
                prop_assert!(seen[i].is_none(), "row {} twice", i);
                seen[i] = Some(n);
                *per.entry(rows[i].0).or_default() += 1;
                prop_assert!(people.insert(rows[i]), "one person twice in a wave");
            }
            prop_assert!(per.values().all(|&c| c <= per_number));
        }
        prop_assert!(seen.iter().all(Option::is_some), "every row is sent");
        // One person's rows go in their queued order.
        for i in 0..rows.len() {
            for j in i + 1..rows.len() {
                if rows[i] == rows[j] {
                    prop_assert!(seen[i] < seen[j]);
                }
            }
        }
        // No wave is needlessly small: a row left for later was blocked by
        // its person, its number's share or the total.
        for (n, wave) in w.iter().enumerate() {
            if wave.len() == total { continue; }
            for (i, row) in rows.iter().enumerate() {
                if seen[i] > Some(n) {
                    let earlier_same_person = (0..i).any(|k| rows[k] == *row && seen[k] >= Some(n));
                    let number_full = wave.iter().filter(|&&k| rows[k].0 == row.0).count() == per_number;
                    prop_assert!(earlier_same_person || number_full, "row {} could have gone in wave {}", i, n);
                }
            }
        }
    }
}

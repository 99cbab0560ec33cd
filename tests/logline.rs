//! Log lines: levels and what `LOG_LEVEL` lets through.

use wa_edge::logline::{Level, LogLine};

#[test]
fn log_level_defaults_to_warn_and_a_typo_falls_back_to_info() {
    for quiet in [None, Some(""), Some("warn"), Some(" WARNING ")] {
        assert_eq!(Level::parse(quiet), Level::Warn, "{quiet:?}");
    }
    for other in [Some("info"), Some("INFO"), Some("debug"), Some("wran")] {
        assert_eq!(Level::parse(other), Level::Info, "{other:?}");
    }
}

#[test]
fn routine_lines_are_hidden_at_warn_and_failures_never_are() {
    let routine = LogLine::new("webhook.stored").count("messages", 1);
    let failure = LogLine::warn("webhook.unauthenticated");
    assert!(routine.is_written_at(Level::Info));
    assert!(!routine.is_written_at(Level::Warn));
    assert!(failure.is_written_at(Level::Info));
    assert!(failure.is_written_at(Level::Warn));
    assert_eq!(failure.render(), r#"{"event":"webhook.unauthenticated"}"#);
}

//! Phone numbers: E.164 and one canonical WhatsApp id per person.
//!
//! WhatsApp reports some countries' numbers in more than one form: Brazil
//! with or without the mobile ninth digit, Mexico with or without the `1`
//! after `52`, Argentina with or without the `9` after `54`. Contacts are
//! keyed by one canonical form so the same person is one contact.

/// True for a Graph id of digits (phone number id, WABA id): 1 to 32 of them.
pub fn is_graph_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_digit())
}

/// The digits of `s`.
pub fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// The canonical WhatsApp id for a number in any of WhatsApp's forms.
///
/// - Brazil (`55` + 2-digit area code): mobile numbers get the ninth digit,
///   `55 11 8765 4321` → `55 11 9 8765 4321`.
/// - Mexico: `52 1` + 10 digits → `52` + 10 digits (the `1` was dropped in 2019).
/// - Argentina: `54` + 10 digits → `54 9` + 10 digits (the mobile form
///   WhatsApp uses).
pub fn canonical_wa_id(number: &str) -> String {
    let d = digits(number);
    if d.len() == 12 && d.starts_with("55") {
        // 55 + area (2) + 8-digit subscriber; mobiles start with 6-9.
        let first = d.as_bytes().get(4).copied().unwrap_or_default();
        if (b'6'..=b'9').contains(&first) {
            return format!("{}9{}", &d[..4], &d[4..]);
        }
    }
    if d.len() == 13 && d.starts_with("521") {
        return format!("52{}", &d[3..]);
    }
    if d.len() == 12 && d.starts_with("54") && !d.starts_with("549") {
        return format!("549{}", &d[2..]);
    }
    d
}

/// The number in E.164 (`+` and digits).
pub fn e164(number: &str) -> String {
    format!("+{}", canonical_wa_id(number))
}

/// Every form in which WhatsApp may report the canonical wa_id `canonical`
/// (the canonical one first), so that erasure finds them all.
pub fn forms(canonical: &str) -> Vec<String> {
    let d = digits(canonical);
    let mut out = vec![d.clone()];
    let head = |n: usize| d.get(..n).unwrap_or_default();
    let rest = |n: usize| d.get(n..).unwrap_or_default();
    if d.len() == 13 && d.starts_with("55") && d.as_bytes().get(4) == Some(&b'9') {
        let mobile = d.as_bytes().get(5).copied().unwrap_or_default();
        if (b'6'..=b'9').contains(&mobile) {
            out.push(format!("{}{}", head(4), rest(5)));
        }
    }
    if d.len() == 12 && d.starts_with("52") {
        out.push(format!("521{}", rest(2)));
    }
    if d.len() == 13 && d.starts_with("549") {
        out.push(format!("54{}", rest(3)));
    }
    out
}

//! Wall-clock time in a named time zone, from the runtime's own time-zone
//! database (`Intl.DateTimeFormat`), so the bundle carries none.

use crate::inbound::rules::LocalTime;
use js_sys::{Array, Date, Object, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

#[wasm_bindgen]
extern "C" {
    // Called without `new`, which JS allows; `catch` turns the RangeError of
    // an unknown zone into an `Err` instead of a trap.
    #[wasm_bindgen(js_namespace = Intl, js_name = DateTimeFormat, catch)]
    fn date_time_format(locales: &JsValue, options: &JsValue) -> Result<JsValue, JsValue>;
}

fn formatter(tz: &str) -> Option<js_sys::Intl::DateTimeFormat> {
    let options = Object::new();
    for (k, v) in [
        ("timeZone", tz),
        ("weekday", "short"),
        ("hour", "2-digit"),
        ("minute", "2-digit"),
        ("hourCycle", "h23"),
    ] {
        Reflect::set(&options, &k.into(), &v.into()).ok()?;
    }
    date_time_format(&"en-US".into(), &options)
        .ok()
        .map(JsCast::unchecked_into)
}

/// True when `tz` names a time zone the runtime knows.
pub fn is_known_zone(tz: &str) -> bool {
    formatter(tz).is_some()
}

/// Local weekday and minute in `tz` at `unix_s`.
pub fn local_time(tz: &str, unix_s: i64) -> Option<LocalTime> {
    // JavaScript dates end at ±8.64e15 ms; formatting one outside throws.
    if !(-8_640_000_000_000..=8_640_000_000_000).contains(&unix_s) {
        return None;
    }
    let fmt = formatter(tz)?;
    let date = Date::new(&JsValue::from_f64(unix_s as f64 * 1000.0));
    let parts: Array = fmt.format_to_parts(&date);
    let (mut weekday, mut hour, mut minute) = (None, None, None);
    for part in parts.iter() {
        let kind = Reflect::get(&part, &"type".into()).ok()?.as_string()?;
        let value = Reflect::get(&part, &"value".into()).ok()?.as_string()?;
        match kind.as_str() {
            "weekday" => {
                weekday = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
                    .iter()
                    .position(|d| *d == value)
                    .map(|i| i as u8)
            }
            "hour" => hour = value.parse::<u16>().ok(),
            "minute" => minute = value.parse::<u16>().ok(),
            _ => {}
        }
    }
    Some(LocalTime {
        weekday: weekday?,
        minute: hour? % 24 * 60 + minute?,
    })
}

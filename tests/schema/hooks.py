"""Schemathesis hooks for tests/schema/run.sh.

docs/openapi.yaml states every rule wa-edge checks that JSON Schema can
express. Three more relate values to each other, which JSON Schema cannot
state, so the spec says them in words:

- the reply buttons of an interactive message have different ids;
- an interactive list holds at most 10 rows across all its sections;
- a rule's opening-hours span has `from` different from `to`;
- a replay's `until` is not before its `since` (nor, without `until`,
  `since` after now).

Destinations the run creates get a loopback URL, so the relay never
reaches beyond 127.0.0.1.

A generated request that is meant to be valid (positive mode) but breaks one
of them is dropped here instead of being sent, so the positive-data check
only sees requests the spec really calls valid. Requests meant to be invalid
(negative mode) are sent unchanged.
"""

import time

import schemathesis
from schemathesis.generation.modes import GenerationMode

# Nothing listens here: forwards fail fast and stay on this machine.
LOOPBACK_RECEIVER = "http://127.0.0.1:9/hook"


def _messages(body):
    """Every Graph message object in a send or rule body."""
    if not isinstance(body, dict):
        return
    yield body
    for key in ("reply",):
        if isinstance(body.get(key), dict):
            yield body[key]
    hours = body.get("hours")
    if isinstance(hours, dict) and isinstance(hours.get("away"), dict):
        yield hours["away"]


def _breaks_cross_field_rules(body) -> bool:
    for message in _messages(body):
        interactive = message.get("interactive")
        if message.get("type") != "interactive" or not isinstance(interactive, dict):
            continue
        action = interactive.get("action")
        if not isinstance(action, dict):
            continue
        buttons = action.get("buttons")
        if interactive.get("type") == "button" and isinstance(buttons, list):
            ids = [b.get("reply", {}).get("id") for b in buttons if isinstance(b, dict) and isinstance(b.get("reply"), dict)]
            if len(ids) != len(set(map(repr, ids))):
                return True
        sections = action.get("sections")
        if interactive.get("type") == "list" and isinstance(sections, list):
            rows = sum(len(s["rows"]) for s in sections if isinstance(s, dict) and isinstance(s.get("rows"), list))
            if rows > 10:
                return True
    hours = body.get("hours") if isinstance(body, dict) else None
    if isinstance(hours, dict) and isinstance(hours.get("open"), list):
        for span in hours["open"]:
            if isinstance(span, dict) and "from" in span and span.get("from") == span.get("to"):
                return True
    return False


def _breaks_replay_window(case) -> bool:
    if not case.operation.path.endswith("/replay") or not isinstance(case.body, dict):
        return False
    since, until = case.body.get("since"), case.body.get("until")
    if not isinstance(since, (int, float)) or isinstance(since, bool):
        return False
    end = until if isinstance(until, (int, float)) and not isinstance(until, bool) else time.time()
    return end < since


@schemathesis.hook
def map_case(context, case):
    """Points every destination a valid request creates or changes at loopback."""
    meta = getattr(case, "meta", None)
    mode = getattr(getattr(meta, "generation", None), "mode", None)
    if mode != GenerationMode.POSITIVE:
        return case
    if "/destinations" in case.operation.path and case.method in ("POST", "PATCH"):
        if isinstance(case.body, dict) and isinstance(case.body.get("url"), str):
            case.body["url"] = LOOPBACK_RECEIVER
    return case


@schemathesis.hook
def filter_case(context, case):
    meta = getattr(case, "meta", None)
    mode = getattr(getattr(meta, "generation", None), "mode", None)
    if mode != GenerationMode.POSITIVE:
        return True
    return not (_breaks_cross_field_rules(case.body) or _breaks_replay_window(case))

// events.js — the events screen: webhook events by kind, dead letters, and
// the relay's deliveries per destination (with their figures and retries);
// every row opens to its raw JSON, read from /v1/events/{id}/raw when the list
// leaves it out.
import { useEffect, useState } from "preact/hooks";
import { html } from "./html.js";
import { api, seg } from "./api.js";
import { localFromMs, pretty } from "./format.js";
import { FormMessages, Select, useForm } from "./forms.js";

// The kinds docs/openapi.yaml documents (EventKind): Meta's webhook fields, then wa-edge's own.
const KINDS = [
  "message_template_status_update", "message_template_quality_update", "message_template_components_update", "template_category_update",
  "phone_number_quality_update", "phone_number_name_update", "account_update", "account_alerts", "account_review_update",
  "business_capability_update", "security", "user_preferences", "calls", "history", "smb_app_state_sync", "group_lifecycle_update",
  "group_participants_update", "group_settings_update", "group_status_update", "dead_letter", "unrecognized_payload",
  "malformed_change", "malformed_message", "malformed_status", "malformed_contact", "error", "foreign_channel",
  "identity_conflict", "contacts_merged", "metadata_missing",
];
const STATES = [
  ["", "Any state"],
  ["pending", "Pending"],
  ["delivered", "Delivered"],
  ["retrying", "Retrying"],
  ["dead", "Dead"],
];
const TABS = [
  ["events", "Webhook events"],
  ["dead", "Dead letters"],
  ["relay", "Relay deliveries"],
];

export function Events() {
  const [tab, setTab] = useState("events");
  return html`<div class="page">
    <div class="page-head"><h1>Events</h1></div>
    <div class="tabs" role="tablist" aria-label="Event lists">
      ${TABS.map(
        ([k, label]) => html`<button
          type="button"
          role="tab"
          key=${k}
          id=${`tab-${k}`}
          aria-selected=${tab === k}
          aria-controls="events-panel"
          class=${tab === k ? "tab active" : "tab"}
          data-testid=${`events-tab-${k}`}
          onClick=${() => setTab(k)}
        >
          ${label}
        </button>`,
      )}
    </div>
    <div id="events-panel" role="tabpanel" aria-labelledby=${`tab-${tab}`}>
      ${tab === "events" && html`<${EventList} key="events" />`}
      ${tab === "dead" && html`<${EventList} key="dead" fixedKind="dead_letter" />`}
      ${tab === "relay" && html`<${Deliveries} />`}
    </div>
  </div>`;
}

function summaryText(summary) {
  if (!summary || typeof summary !== "object") return "";
  const text = Object.entries(summary)
    .filter(([, v]) => v !== null && v !== undefined && v !== "")
    .map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`)
    .join(" · ");
  return text.length > 200 ? `${text.slice(0, 199)}…` : text;
}

/** A row that opens to show `load()`'s text in a <pre> (loaded once). */
function ExpandableRow({ head, load, kind }) {
  const [open, setOpen] = useState(false);
  const [text, setText] = useState(null);
  const [error, setError] = useState(null);
  const toggle = async () => {
    setOpen(!open);
    if (open || text !== null) return;
    try {
      setError(null);
      setText(await load());
    } catch (e) {
      setError(e.message);
    }
  };
  return html`<div class=${`row event-row${open ? " open" : ""}`} data-testid="event-row" data-row-kind=${kind}>
    <button type="button" class="event-head" aria-expanded=${open} onClick=${toggle}>${head}</button>
    ${open &&
    (error
      ? html`<div class="field-error" role="alert">${error}</div>`
      : text === null
        ? html`<p class="muted">Loading…</p>`
        : html`<pre class="raw" data-testid="event-raw">${text}</pre>`)}
  </div>`;
}

function EventList({ fixedKind }) {
  const [kind, setKind] = useState("");
  const [items, setItems] = useState(null);
  const [cursor, setCursor] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const [reload, setReload] = useState(0);
  const k = fixedKind || kind;

  useEffect(() => {
    let on = true;
    setItems(null);
    setError(null);
    api.get("/v1/events", { kind: k, limit: 50 }).then(
      (r) => {
        if (!on) return;
        setItems(r.data || []);
        setCursor(r.next_cursor || null);
      },
      (e) => on && setError(e.message),
    );
    return () => {
      on = false;
    };
  }, [k, reload]);

  const more = async () => {
    setBusy(true);
    try {
      const r = await api.get("/v1/events", { kind: k, limit: 50, cursor });
      setItems((x) => [...x, ...(r.data || [])]);
      setCursor(r.next_cursor || null);
    } catch (e) {
      setError(e.message);
    } finally {
      setBusy(false);
    }
  };

  return html`<div>
    <div class="toolbar">
      ${!fixedKind &&
      html`<${Select}
        label="Kind"
        name="kind"
        data-testid="event-kind"
        value=${kind}
        onChange=${(e) => setKind(e.currentTarget.value)}
        options=${[["", "Every kind"], ...KINDS]}
      />`}
      ${fixedKind && html`<p class="hint">Correctly signed deliveries whose body was not JSON, kept as they arrived.</p>`}
      <div class="toolbar-end"><button type="button" class="btn" onClick=${() => setReload((n) => n + 1)}>Refresh</button></div>
    </div>
    ${error && html`<div class="banner error" role="alert">Could not load events: ${error}</div>`}
    ${items === null && !error && html`<p class="empty">Loading events…</p>`}
    ${items && !items.length && html`<p class="empty">${fixedKind ? "No dead letters." : "No events of this kind."}</p>`}
    <div class="rows">
      ${(items || []).map(
        (e) => html`<${ExpandableRow}
          key=${e.id}
          kind="event"
          head=${html`<span class="badge">${e.kind}</span>
            <span class="event-summary">${summaryText(e.summary) || e.reference || e.id.slice(0, 16)}</span>
            <span class="muted">${e.phone_number_id || ""}</span>
            <time class="muted">${localFromMs(e.received_at)}</time>`}
          load=${async () => {
            if (e.raw !== null && e.raw !== undefined) return e.raw_encoding === "json" ? pretty(e.raw) : String(e.raw);
            const raw = await api.get(e.raw_url || `/v1/events/${seg(e.id)}/raw`);
            return pretty(raw);
          }}
        />`,
      )}
    </div>
    ${cursor && html`<button type="button" class="btn wide" onClick=${more} disabled=${busy}>${busy ? "Loading…" : "Load more"}</button>`}
  </div>`;
}

function Deliveries() {
  const form = useForm();
  const [dests, setDests] = useState(null);
  const [dest, setDest] = useState("");
  const [state, setState] = useState("");
  const [detail, setDetail] = useState(null);
  const [items, setItems] = useState(null);
  const [cursor, setCursor] = useState(null);
  const [reload, setReload] = useState(0);

  useEffect(() => {
    api.get("/v1/destinations").then(
      (r) => {
        const list = (r && r.data) || [];
        setDests(list);
        if (list.length) setDest(list[0].id);
      },
      (e) => form.setBanner(e.message),
    );
  }, []);

  useEffect(() => {
    if (!dest) return undefined;
    let on = true;
    setItems(null);
    Promise.all([api.get(`/v1/destinations/${seg(dest)}/deliveries`, { state, limit: 50 }), api.get(`/v1/destinations/${seg(dest)}`)]).then(
      ([page, d]) => {
        if (!on) return;
        setItems(page.data || []);
        setCursor(page.next_cursor || null);
        setDetail(d);
      },
      (e) => on && form.setBanner(e.message),
    );
    return () => {
      on = false;
    };
  }, [dest, state, reload]);

  const more = () =>
    form.run(async () => {
      const page = await api.get(`/v1/destinations/${seg(dest)}/deliveries`, { state, limit: 50, cursor });
      setItems((x) => [...x, ...(page.data || [])]);
      setCursor(page.next_cursor || null);
    });
  const retryAll = () =>
    form.run(async () => {
      const r = await api.post(`/v1/destinations/${seg(dest)}/deliveries/retry`);
      form.setNotice(`Queued ${r.retried} dead forward${r.retried === 1 ? "" : "s"} again.`);
      setReload((n) => n + 1);
    });
  const retryOne = (f) =>
    form.run(async () => {
      await api.post(`/v1/destinations/${seg(dest)}/deliveries/${seg(f.id)}/retry`);
      form.setNotice(`Queued ${f.id} again.`);
      setReload((n) => n + 1);
    });

  const stats = detail && detail.stats;
  return html`<div ref=${form.ref}>
    <${FormMessages} form=${form} />
    ${dests && !dests.length && html`<p class="empty">No destinations: wa-edge forwards to none of your systems yet (see POST /v1/destinations).</p>`}
    ${dests &&
    dests.length > 0 &&
    html`<div class="toolbar">
      <${Select}
        label="Destination"
        name="destination"
        data-testid="destination-select"
        value=${dest}
        onChange=${(e) => setDest(e.currentTarget.value)}
        options=${dests.map((d) => [d.id, `${d.description || d.url} (${d.format})${d.enabled ? "" : " · disabled"}`])}
      />
      <${Select} label="State" name="state" data-testid="delivery-state" value=${state} onChange=${(e) => setState(e.currentTarget.value)} options=${STATES} />
      <div class="toolbar-end">
        <button type="button" class="btn" onClick=${() => setReload((n) => n + 1)}>Refresh</button>
        <button type="button" class="btn" data-testid="retry-dead" onClick=${retryAll} disabled=${form.busy}>Retry dead</button>
      </div>
    </div>`}
    ${detail &&
    html`<div class="stats" data-testid="destination-stats">
      <span><strong>${detail.url}</strong></span>
      ${detail.disabled_reason && html`<span class="badge warn">Disabled: ${detail.disabled_reason}</span>`}
      ${stats &&
      html`<span>Last 24 h: ${stats.delivered} delivered · ${stats.retrying} retrying · ${stats.dead} dead</span>
        <span>p50 ${stats.p50_ms ?? "—"} ms · p99 ${stats.p99_ms ?? "—"} ms</span>
        ${stats.last_error && html`<span class="muted">Last error: ${stats.last_error.message} (${localFromMs(stats.last_error.at)})</span>`}`}
    </div>`}
    ${dest && items === null && html`<p class="empty">Loading deliveries…</p>`}
    ${items && !items.length && html`<p class="empty">No deliveries${state ? ` in state ${state}` : ""}.</p>`}
    <div class="rows">
      ${(items || []).map(
        (f) => html`<div class="delivery" key=${f.id}>
          <${ExpandableRow}
            kind="delivery"
            head=${html`<span class=${`badge state-${f.state}`}>${f.state}</span>
              <span class="event-summary">${f.source.kind} ${f.source.id.slice(0, 20)}… · ${f.attempts} attempt${f.attempts === 1 ? "" : "s"}${f.last_status ? ` · HTTP ${f.last_status}` : ""}${f.last_error ? ` · ${f.last_error}` : ""}</span>
              <span class="muted">${f.latency_ms != null ? `${f.latency_ms} ms` : ""}</span>
              <time class="muted">${localFromMs(f.updated_at)}</time>`}
            load=${async () => {
              const own = pretty(f);
              if (f.source.kind !== "event") return own;
              const raw = await api.get(`/v1/events/${seg(f.source.id)}/raw`).catch((e) => `(${e.message})`);
              return `${own}\n\n// The event it carries:\n${pretty(raw)}`;
            }}
          />
          ${(f.state === "dead" || f.state === "retrying") &&
          html`<button type="button" class="btn small" data-testid="retry-delivery" onClick=${() => retryOne(f)} disabled=${form.busy}>Retry now</button>`}
        </div>`,
      )}
    </div>
    ${cursor && html`<button type="button" class="btn wide" onClick=${more} disabled=${form.busy}>Load more</button>`}
  </div>`;
}

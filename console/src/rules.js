// rules.js — the auto-replies screen: rules in priority order with their
// enabled switch, the create/edit form (match, reply as text, buttons, list,
// template or raw JSON, business hours with an away message, read receipts and
// typing), and "Try it", which asks which rule would answer a sample message.
import { useEffect, useRef, useState } from "preact/hooks";
import { html } from "./html.js";
import { api, seg, useChannels } from "./api.js";
import { channelLabel, channelOptions, messagePreview, pretty } from "./format.js";
import { Checkbox, ConfirmButton, FormMessages, GroupError, Input, Select, TextArea, useForm } from "./forms.js";
import { MessageBody } from "./conversation.js";

const MATCH_KINDS = [
  ["keyword", "Keyword is"],
  ["contains", "Text contains"],
  ["regex", "Text matches regex"],
  ["reply_id", "Tapped reply id"],
  ["type", "Message type is"],
  ["first_message", "First message from a contact"],
  ["any", "Any message"],
];
const REPLY_KINDS = [
  ["text", "Text"],
  ["buttons", "Reply buttons"],
  ["list", "List"],
  ["template", "Template"],
  ["json", "Custom (Graph JSON)"],
  ["none", "No reply (only mark read)"],
];
const MESSAGE_TYPES = ["text", "image", "audio", "video", "document", "sticker", "location", "contacts", "interactive", "button", "reaction", "order", "system"];
const DAYS = [
  ["mon", "Mon"],
  ["tue", "Tue"],
  ["wed", "Wed"],
  ["thu", "Thu"],
  ["fri", "Fri"],
  ["sat", "Sat"],
  ["sun", "Sun"],
];
const FALLBACK_ZONES = [
  "UTC", "Europe/London", "Europe/Berlin", "Europe/Paris", "Europe/Madrid", "Europe/Istanbul", "America/New_York", "America/Chicago",
  "America/Denver", "America/Los_Angeles", "America/Mexico_City", "America/Sao_Paulo", "Africa/Lagos", "Africa/Johannesburg",
  "Asia/Dubai", "Asia/Kolkata", "Asia/Jakarta", "Asia/Singapore", "Asia/Tokyo", "Australia/Sydney",
];

function timeZones() {
  let zones = FALLBACK_ZONES;
  try {
    if (Intl.supportedValuesOf) zones = Intl.supportedValuesOf("timeZone");
  } catch {
    zones = FALLBACK_ZONES;
  }
  return zones.includes("UTC") ? zones : ["UTC", ...zones];
}
const ZONES = timeZones();
const localZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";

/** One line describing what a rule's match takes. */
function matchSummary(m) {
  if (!m) return "—";
  if (m.keyword != null) return `Keyword “${m.keyword}”`;
  if (m.contains != null) return `Contains “${m.contains}”`;
  if (m.regex != null) return `Matches /${m.regex}/`;
  if (m.reply_id != null) return `Reply id “${m.reply_id}”`;
  if (m.type != null) return `Message type: ${m.type}`;
  if (m.first_message) return "First message from a contact";
  if (m.any) return "Any message";
  return "—";
}

function replySummary(rule) {
  const r = rule.reply;
  if (!r) return rule.mark_read ? "Marks read, no reply" : "No reply";
  const i = r.interactive || {};
  const action = i.action || {};
  if (r.type === "interactive" && i.type === "button")
    return `Buttons ${(action.buttons || []).map((b) => `[${(b.reply && b.reply.title) || ""}]`).join(" ")}: ${(i.body && i.body.text) || ""}`;
  if (r.type === "interactive" && i.type === "list") return `List “${action.button || ""}”: ${(i.body && i.body.text) || ""}`;
  if (r.type === "template") return `Template ${(r.template && r.template.name) || ""} (${(r.template && r.template.language && r.template.language.code) || ""})`;
  return messagePreview(r);
}

const blankRule = () => ({
  id: null,
  priority: "10",
  channel: "",
  match_kind: "keyword",
  match_value: "",
  reply_kind: "text",
  reply_text: "",
  buttons_body: "",
  buttons: [{ title: "", id: "" }],
  list_body: "",
  list_button: "",
  list_rows: [{ id: "", title: "", description: "" }],
  template_name: "",
  template_language: "en_US",
  template_params: "",
  reply_json: "",
  hours_on: false,
  tz: localZone(),
  spans: [{ days: ["mon", "tue", "wed", "thu", "fri"], from: "09:00", to: "17:00" }],
  away_text: "",
  away_raw: null,
  mark_read: false,
  typing: false,
  enabled: true,
});

const only = (obj, keys) => Object.keys(obj || {}).every((k) => keys.includes(k));

/** The form's values for a stored rule; a reply the fields cannot hold becomes JSON. */
function ruleToForm(rule) {
  const v = blankRule();
  v.id = rule.id;
  v.priority = String(rule.priority);
  v.channel = rule.channel || "";
  const kind = MATCH_KINDS.map(([k]) => k).find((k) => rule.match && rule.match[k] != null) || "any";
  v.match_kind = kind;
  v.match_value = kind === "first_message" || kind === "any" ? "" : String(rule.match[kind]);
  const r = rule.reply;
  const i = (r && r.interactive) || {};
  const a = i.action || {};
  if (!r) v.reply_kind = "none";
  else if (r.type === "text" && only(r, ["type", "text"]) && only(r.text, ["body"])) {
    v.reply_kind = "text";
    v.reply_text = r.text.body;
  } else if (r.type === "interactive" && i.type === "button" && only(r, ["type", "interactive"]) && only(i, ["type", "body", "action"]) && only(a, ["buttons"])) {
    v.reply_kind = "buttons";
    v.buttons_body = (i.body && i.body.text) || "";
    v.buttons = (a.buttons || []).map((b) => ({ title: (b.reply && b.reply.title) || "", id: (b.reply && b.reply.id) || "" }));
  } else if (
    r.type === "interactive" &&
    i.type === "list" &&
    only(r, ["type", "interactive"]) &&
    only(i, ["type", "body", "action"]) &&
    only(a, ["button", "sections"]) &&
    (a.sections || []).length === 1 &&
    !a.sections[0].title
  ) {
    v.reply_kind = "list";
    v.list_body = (i.body && i.body.text) || "";
    v.list_button = a.button || "";
    v.list_rows = (a.sections[0].rows || []).map((row) => ({ id: row.id || "", title: row.title || "", description: row.description || "" }));
  } else if (r.type === "template" && only(r, ["type", "template"]) && templateParamsOf(r.template) !== null) {
    v.reply_kind = "template";
    v.template_name = r.template.name || "";
    v.template_language = (r.template.language && r.template.language.code) || "";
    v.template_params = templateParamsOf(r.template).join("\n");
  } else {
    v.reply_kind = "json";
    v.reply_json = pretty(r);
  }
  if (rule.hours) {
    v.hours_on = true;
    v.tz = rule.hours.tz;
    v.spans = (rule.hours.open || []).map((s) => ({ days: [...s.days], from: s.from, to: s.to }));
    const away = rule.hours.away;
    if (away && away.type === "text" && only(away, ["type", "text"])) v.away_text = away.text.body;
    else if (away) v.away_raw = away;
  }
  v.mark_read = !!rule.mark_read;
  v.typing = !!rule.typing;
  v.enabled = rule.enabled !== false;
  return v;
}

/** The body texts of a template reply, or null when it has components the form cannot show. */
function templateParamsOf(t) {
  const comps = (t && t.components) || [];
  if (!comps.length) return [];
  if (comps.length > 1 || comps[0].type !== "body") return null;
  const ps = comps[0].parameters || [];
  return ps.every((p) => p.type === "text" && only(p, ["type", "text"])) ? ps.map((p) => p.text) : null;
}

/** The Rule body from the form, or {errors} found before sending. */
function formToRule(v) {
  const errors = {};
  if (!/^-?\d+$/.test(String(v.priority).trim())) errors.priority = "Priority is a whole number (lower runs first).";
  const match = v.match_kind === "first_message" || v.match_kind === "any" ? { [v.match_kind]: true } : { [v.match_kind]: v.match_value };
  const rule = { priority: Number(String(v.priority).trim()), match, mark_read: v.mark_read, typing: v.mark_read && v.typing, enabled: v.enabled };
  if (v.channel) rule.channel = v.channel;
  if (v.reply_kind === "text") rule.reply = { type: "text", text: { body: v.reply_text } };
  else if (v.reply_kind === "buttons")
    rule.reply = {
      type: "interactive",
      interactive: {
        type: "button",
        body: { text: v.buttons_body },
        action: { buttons: v.buttons.map((b, i) => ({ type: "reply", reply: { id: b.id.trim() || `button_${i + 1}`, title: b.title } })) },
      },
    };
  else if (v.reply_kind === "list")
    rule.reply = {
      type: "interactive",
      interactive: {
        type: "list",
        body: { text: v.list_body },
        action: {
          button: v.list_button,
          sections: [
            {
              rows: v.list_rows.map((r, i) => {
                const row = { id: r.id.trim() || `row_${i + 1}`, title: r.title };
                if (r.description.trim()) row.description = r.description;
                return row;
              }),
            },
          ],
        },
      },
    };
  else if (v.reply_kind === "template") {
    const params = v.template_params.split("\n").map((s) => s.trim()).filter(Boolean);
    rule.reply = { type: "template", template: { name: v.template_name.trim(), language: { code: v.template_language.trim() } } };
    if (params.length) rule.reply.template.components = [{ type: "body", parameters: params.map((text) => ({ type: "text", text })) }];
  } else if (v.reply_kind === "json") {
    try {
      rule.reply = JSON.parse(v.reply_json);
    } catch (e) {
      errors.reply_json = `This is not valid JSON: ${e.message}`;
    }
  }
  if (v.hours_on) {
    rule.hours = { tz: v.tz, open: v.spans.map((s) => ({ days: DAYS.map(([d]) => d).filter((d) => s.days.includes(d)), from: s.from, to: s.to })) };
    if (v.away_text.trim()) rule.hours.away = { type: "text", text: { body: v.away_text } };
    else if (v.away_raw) rule.hours.away = v.away_raw;
  }
  return { rule, errors };
}

const withoutId = (rule) => {
  const { id, ...rest } = rule;
  return rest;
};

export function Rules() {
  const channels = useChannels();
  const [rules, setRules] = useState(null);
  const [error, setError] = useState(null);
  const [editing, setEditing] = useState(null);
  const [rowErrors, setRowErrors] = useState({});
  const [notice, setNotice] = useState(null);
  const formBox = useRef(null);

  const load = () =>
    api.get("/v1/rules").then(
      (r) => {
        setRules((r && r.data) || []);
        setError(null);
      },
      (e) => setError(e.message),
    );
  useEffect(() => {
    load();
  }, []);

  const toggle = async (rule, enabled) => {
    setRowErrors((x) => ({ ...x, [rule.id]: null }));
    setRules((rs) => rs.map((r) => (r.id === rule.id ? { ...r, enabled } : r)));
    try {
      const saved = await api.put(`/v1/rules/${seg(rule.id)}`, { ...withoutId(rule), enabled });
      setRules((rs) => rs.map((r) => (r.id === rule.id ? saved : r)));
    } catch (e) {
      setRules((rs) => rs.map((r) => (r.id === rule.id ? rule : r)));
      setRowErrors((x) => ({ ...x, [rule.id]: e.message }));
    }
  };

  const remove = async (rule) => {
    try {
      await api.del(`/v1/rules/${seg(rule.id)}`);
      if (editing && editing.id === rule.id) setEditing(null);
      load();
    } catch (e) {
      setRowErrors((x) => ({ ...x, [rule.id]: e.message }));
    }
  };

  const edit = (rule) => {
    setNotice(null);
    setEditing(rule);
    requestAnimationFrame(() => formBox.current && formBox.current.scrollIntoView({ behavior: "smooth", block: "start" }));
  };

  return html`<div class="page">
    <div class="page-head">
      <h1>Auto-replies</h1>
      <button type="button" class="btn primary" data-testid="rule-new" onClick=${() => edit({})}>New rule</button>
    </div>
    <p class="hint">Rules run in ascending priority; the first enabled rule whose match takes an inbound message answers it. Edits apply everywhere within 15 s.</p>
    ${error && html`<div class="banner error" role="alert">Could not load rules: ${error}</div>`}
    ${rules === null && !error && html`<p class="empty">Loading rules…</p>`}
    ${rules && !rules.length && html`<p class="empty">No rules yet.</p>`}
    <div class="rows">
      ${(rules || []).map(
        (r) => html`<div class=${`row rule-row${r.enabled === false ? " disabled" : ""}`} key=${r.id} data-testid="rule-row" data-id=${r.id}>
          <span class="priority" title="Priority" data-testid="rule-priority">${r.priority}</span>
          <div class="row-main">
            <strong data-testid="rule-match">${matchSummary(r.match)}</strong>
            <span class="snippet" data-testid="rule-reply">→ ${replySummary(r)}</span>
            <span class="muted">
              ${r.channel ? channelLabel(channels, r.channel) : "All channels"}
              ${r.hours ? ` · business hours (${r.hours.tz})${r.hours.away ? ", away message" : ""}` : ""}
              ${r.mark_read ? " · marks read" : ""}${r.typing ? " · typing" : ""}
            </span>
            ${rowErrors[r.id] && html`<span class="field-error" role="alert">${rowErrors[r.id]}</span>`}
          </div>
          <div class="row-side">
            <${Checkbox} label="Enabled" name=${`enabled-${r.id}`} class="switch" data-testid="rule-enabled" checked=${r.enabled !== false} onChange=${(e) => toggle(r, e.currentTarget.checked)} />
            <button type="button" class="btn small" data-testid="rule-edit" onClick=${() => edit(r)}>Edit</button>
            <${ConfirmButton}
              label="Delete"
              class="small danger-outline"
              testid="rule-delete"
              confirmTestid="rule-delete-confirm"
              question="Delete this rule?"
              confirmLabel="Delete"
              onConfirm=${() => remove(r)}
            />
          </div>
        </div>`,
      )}
    </div>
    <div ref=${formBox}>
      ${notice && html`<div class="banner ok" role="status" data-testid="notice">${notice}</div>`}
      <${RuleForm}
        key=${editing && editing.id ? editing.id : "new"}
        rule=${editing && editing.id ? editing : null}
        channels=${channels}
        onSaved=${(message) => {
          setEditing(null);
          setNotice(message);
          load();
        }}
        onCancel=${() => setEditing(null)}
      />
    </div>
    <${TryIt} channels=${channels} />
  </div>`;
}

function RuleForm({ rule, channels, onSaved, onCancel }) {
  const form = useForm();
  const [v, setV] = useState(() => (rule ? ruleToForm(rule) : blankRule()));
  const set = (k, val) => setV((old) => ({ ...old, [k]: val }));
  const bind = (k) => ({ value: v[k], onInput: (e) => set(k, e.currentTarget.value) });
  const setRow = (list, i, k, val) => set(list, v[list].map((x, j) => (j === i ? { ...x, [k]: val } : x)));
  const dropRow = (list, i) => set(list, v[list].filter((_, j) => j !== i));
  const setSpan = (i, patch) => set("spans", v.spans.map((s, j) => (j === i ? { ...s, ...patch } : s)));
  const zones = ZONES.includes(v.tz) ? ZONES : [v.tz, ...ZONES];
  const needsValue = v.match_kind !== "first_message" && v.match_kind !== "any";

  const alias = (p) => {
    if (p === "reply") return v.reply_kind === "json" ? null : "reply_kind";
    if (p === "hours.away" || p.startsWith("hours.away.")) return "away_text";
    if (p === "match") return "match_kind";
    if (p.startsWith("match.")) return "match_value";
    return null;
  };

  const submit = (e) => {
    e.preventDefault();
    const { rule: body, errors } = formToRule(v);
    if (Object.keys(errors).length) return form.invalid(errors);
    form.run(async () => {
      const saved = v.id ? await api.put(`/v1/rules/${seg(v.id)}`, body) : await api.post("/v1/rules", body);
      if (!v.id) setV(blankRule());
      onSaved(v.id ? `Rule ${saved.id || v.id} saved.` : `Rule ${saved.id || ""} created.`.replace("  ", " "));
    }, alias);
    return undefined;
  };

  return html`<form class="card rule-form" ref=${form.ref} novalidate onSubmit=${submit} data-testid="rule-form">
    <h2>${v.id ? `Edit rule ${v.id}` : "New rule"}</h2>
    <${FormMessages} form=${form} />
    <div class="grid-2">
      <${Input} form=${form} label="Priority" name="priority" type="number" step="1" hint="Lower runs first." ...${bind("priority")} />
      <${Select}
        form=${form}
        label="Channel"
        name="channel"
        value=${v.channel}
        onChange=${(e) => set("channel", e.currentTarget.value)}
        options=${channelOptions(channels, ["", "Any channel"])}
      />
      <${Select} form=${form} label="When" name="match_kind" options=${MATCH_KINDS} value=${v.match_kind} onChange=${(e) => set("match_kind", e.currentTarget.value)} />
      ${needsValue &&
      html`<${Input}
        form=${form}
        label=${v.match_kind === "type" ? "Message type" : v.match_kind === "regex" ? "Regular expression" : v.match_kind === "reply_id" ? "Reply id" : "Text"}
        name="match_value"
        field=${`match.${v.match_kind}`}
        list=${v.match_kind === "type" ? "rule-message-types" : undefined}
        ...${bind("match_value")}
      />`}
      <datalist id="rule-message-types">${MESSAGE_TYPES.map((t) => html`<option value=${t} key=${t} />`)}</datalist>
    </div>

    <h3>Reply</h3>
    <${Select} form=${form} label="Reply with" name="reply_kind" options=${REPLY_KINDS} value=${v.reply_kind} onChange=${(e) => set("reply_kind", e.currentTarget.value)} />
    ${v.reply_kind === "text" && html`<${TextArea} form=${form} label="Reply text" name="reply_text" field="reply.text.body" rows="3" limit=${4096} ...${bind("reply_text")} />`}
    ${v.reply_kind === "buttons" &&
    html`<div class="subfields">
      <${TextArea} form=${form} label="Message" name="reply_buttons_body" field="reply.interactive.body.text" rows="2" limit=${1024} ...${bind("buttons_body")} />
      ${v.buttons.map(
        (b, i) => html`<div class="button-row" key=${i}>
          <${Input}
            form=${form}
            label=${`Button ${i + 1} title`}
            name=${`reply_button.${i}.title`}
            field=${`reply.interactive.action.buttons.${i}.reply.title`}
            limit=${20}
            value=${b.title}
            onInput=${(e) => setRow("buttons", i, "title", e.currentTarget.value)}
          />
          <${Input}
            form=${form}
            label=${`Button ${i + 1} id`}
            name=${`reply_button.${i}.id`}
            field=${`reply.interactive.action.buttons.${i}.reply.id`}
            placeholder=${`button_${i + 1}`}
            value=${b.id}
            onInput=${(e) => setRow("buttons", i, "id", e.currentTarget.value)}
          />
          <button type="button" class="btn ghost small" aria-label=${`Remove button ${i + 1}`} disabled=${v.buttons.length === 1} onClick=${() => dropRow("buttons", i)}>✕</button>
        </div>`,
      )}
      <button type="button" class="btn small" disabled=${v.buttons.length >= 3} onClick=${() => set("buttons", [...v.buttons, { title: "", id: "" }])}>Add button</button>
    </div>`}
    ${v.reply_kind === "list" &&
    html`<div class="subfields">
      <${TextArea} form=${form} label="Message" name="reply_list_body" field="reply.interactive.body.text" rows="2" limit=${4096} ...${bind("list_body")} />
      <${Input} form=${form} label="Button label" name="reply_list_button" field="reply.interactive.action.button" limit=${20} ...${bind("list_button")} />
      ${v.list_rows.map(
        (r, i) => html`<div class="button-row" key=${i}>
          <${Input}
            form=${form}
            label=${`Row ${i + 1} id`}
            name=${`reply_list_row.${i}.id`}
            field=${`reply.interactive.action.sections.0.rows.${i}.id`}
            placeholder=${`row_${i + 1}`}
            value=${r.id}
            onInput=${(e) => setRow("list_rows", i, "id", e.currentTarget.value)}
          />
          <${Input}
            form=${form}
            label=${`Row ${i + 1} title`}
            name=${`reply_list_row.${i}.title`}
            field=${`reply.interactive.action.sections.0.rows.${i}.title`}
            limit=${24}
            value=${r.title}
            onInput=${(e) => setRow("list_rows", i, "title", e.currentTarget.value)}
          />
          <${Input}
            form=${form}
            label=${`Row ${i + 1} description`}
            name=${`reply_list_row.${i}.description`}
            field=${`reply.interactive.action.sections.0.rows.${i}.description`}
            limit=${72}
            value=${r.description}
            onInput=${(e) => setRow("list_rows", i, "description", e.currentTarget.value)}
          />
          <button type="button" class="btn ghost small" aria-label=${`Remove row ${i + 1}`} disabled=${v.list_rows.length === 1} onClick=${() => dropRow("list_rows", i)}>✕</button>
        </div>`,
      )}
      <button type="button" class="btn small" disabled=${v.list_rows.length >= 10} onClick=${() => set("list_rows", [...v.list_rows, { id: "", title: "", description: "" }])}>Add row</button>
    </div>`}
    ${v.reply_kind === "template" &&
    html`<div class="subfields grid-2">
      <${Input} form=${form} label="Template name" name="reply_template_name" field="reply.template.name" ...${bind("template_name")} />
      <${Input} form=${form} label="Language" name="reply_template_language" field="reply.template.language.code" ...${bind("template_language")} />
      <${TextArea}
        form=${form}
        class="span-2"
        label="Body parameters, one per line"
        name="reply_template_params"
        field="reply.template.components"
        rows="2"
        hint="One line per {{n}} of the template's body, in order."
        ...${bind("template_params")}
      />
    </div>`}
    ${v.reply_kind === "json" &&
    html`<${TextArea}
      form=${form}
      label="Reply message (Graph's message object, without “to”)"
      name="reply_json"
      field="reply"
      class="mono"
      rows="8"
      ...${bind("reply_json")}
    />`}

    <h3>Business hours</h3>
    <${Checkbox}
      form=${form}
      label="Answer with this rule only during business hours"
      name="hours_on"
      field="hours"
      checked=${v.hours_on}
      onChange=${(e) => set("hours_on", e.currentTarget.checked)}
    />
    ${v.hours_on &&
    html`<div class="subfields">
      <${Select} form=${form} label="Time zone" name="hours_tz" field="hours.tz" options=${zones} value=${v.tz} onChange=${(e) => set("tz", e.currentTarget.value)} />
      <div data-field="hours.open">
        ${v.spans.map(
          (s, i) => html`<div class="span-row" key=${i} data-field=${`hours.open.${i}`}>
            <fieldset class="days" data-field=${`hours.open.${i}.days`}>
              <legend>Days of span ${i + 1}</legend>
              ${DAYS.map(
                ([d, label]) => html`<${Checkbox}
                  key=${d}
                  label=${label}
                  name=${`hours_span.${i}.${d}`}
                  checked=${s.days.includes(d)}
                  onChange=${(e) => setSpan(i, { days: e.currentTarget.checked ? [...s.days, d] : s.days.filter((x) => x !== d) })}
                />`,
              )}
            </fieldset>
            <${GroupError} form=${form} k=${`hours.open.${i}.days`} />
            <${GroupError} form=${form} k=${`hours.open.${i}`} />
            <${Input} form=${form} label="From" type="time" name=${`hours_span.${i}.from`} field=${`hours.open.${i}.from`} value=${s.from} onInput=${(e) => setSpan(i, { from: e.currentTarget.value })} />
            <${Input} form=${form} label="To" type="time" name=${`hours_span.${i}.to`} field=${`hours.open.${i}.to`} value=${s.to} onInput=${(e) => setSpan(i, { to: e.currentTarget.value })} />
            <button type="button" class="btn ghost small" aria-label=${`Remove span ${i + 1}`} disabled=${v.spans.length === 1} onClick=${() => dropRow("spans", i)}>✕</button>
          </div>`,
        )}
        <${GroupError} form=${form} k="hours.open" />
      </div>
      <button type="button" class="btn small" onClick=${() => set("spans", [...v.spans, { days: ["sat"], from: "10:00", to: "14:00" }])}>Add span</button>
      <${TextArea}
        form=${form}
        label="Away message (sent outside the hours; optional)"
        name="away_text"
        field="hours.away.text.body"
        rows="2"
        hint=${v.away_raw && !v.away_text.trim() ? `The away message is a ${v.away_raw.type} message; typing text here replaces it.` : undefined}
        ...${bind("away_text")}
      />
    </div>`}

    <h3>Options</h3>
    <${Checkbox} form=${form} label="Mark the message read (blue ticks) before replying" name="mark_read" checked=${v.mark_read} onChange=${(e) => set("mark_read", e.currentTarget.checked)} />
    <${Checkbox}
      form=${form}
      label="Show the typing indicator until the reply arrives"
      name="typing"
      hint=${v.mark_read ? undefined : "Needs “mark read”."}
      disabled=${!v.mark_read}
      checked=${v.mark_read && v.typing}
      onChange=${(e) => set("typing", e.currentTarget.checked)}
    />
    <${Checkbox} form=${form} label="Enabled" name="enabled" checked=${v.enabled} onChange=${(e) => set("enabled", e.currentTarget.checked)} />
    <div class="actions">
      <button type="submit" class="btn primary" data-testid="rule-save" disabled=${form.busy}>${v.id ? "Save rule" : "Create rule"}</button>
      ${v.id && html`<button type="button" class="btn" onClick=${onCancel}>Cancel</button>`}
    </div>
  </form>`;
}

function TryIt({ channels }) {
  const form = useForm();
  const [text, setText] = useState("");
  const [channel, setChannel] = useState("");
  const [result, setResult] = useState(null);
  const run = (e) => {
    e.preventDefault();
    form.run(async () => {
      const body = { text, type: "text" };
      if (channel) body.phone_number_id = channel;
      setResult(await api.post("/v1/rules/try", body));
    });
  };
  return html`<form class="card try-it" ref=${form.ref} novalidate onSubmit=${run}>
    <h2>Try it</h2>
    <p class="hint">Which rule would answer this message now?</p>
    <${FormMessages} form=${form} />
    <div class="inline-form">
      <${Input} form=${form} label="Sample message" name="text" data-testid="try-text" value=${text} onInput=${(e) => setText(e.currentTarget.value)} />
      <${Select}
        form=${form}
        label="To channel"
        name="phone_number_id"
        value=${channel}
        onChange=${(e) => setChannel(e.currentTarget.value)}
        options=${channelOptions(channels, ["", "Default channel"])}
      />
      <button type="submit" class="btn primary" data-testid="try-run" disabled=${form.busy}>Try</button>
    </div>
    ${result &&
    html`<div class=${`try-result ${result.rule ? "hit" : "miss"}`} data-testid="try-result" role="status">
      ${result.rule
        ? html`<p>
            <strong>Rule <code data-testid="try-rule-id">${result.rule.id || "—"}</code></strong> (priority ${result.rule.priority}):
            ${matchSummary(result.rule.match)}
          </p>`
        : html`<p><strong>No rule would answer.</strong></p>`}
      ${result.reply &&
      html`<div class="msg out"><div class="bubble"><${MessageBody} m=${result.reply} pnid=${channel || undefined} /></div></div>`}
      ${result.reason && html`<p class="muted" data-testid="try-reason">${result.reason}</p>`}
    </div>`}
  </form>`;
}

// templates.js — the templates screen: a channel's stored templates (search,
// status filter, last sync, sync, delete) and the form that submits a new one
// in Graph's shape (header, body with {{n}} variables and their examples,
// footer, buttons), with a live WhatsApp-bubble preview.
import { useEffect, useRef, useState } from "preact/hooks";
import { html } from "./html.js";
import { api, seg, useChannels, withQuery } from "./api.js";
import { channelOptions, localFromMs, templateParts, templateVariables, TemplatePreview } from "./format.js";
import { ConfirmButton, FormMessages, Input, Select, TextArea, useDebounced, useForm } from "./forms.js";

const STATUSES = [
  ["", "Any status"],
  ["APPROVED", "Approved"],
  ["PENDING", "Pending"],
  ["REJECTED", "Rejected"],
  ["PAUSED", "Paused"],
  ["DISABLED", "Disabled"],
];
const CATEGORIES = ["MARKETING", "UTILITY", "AUTHENTICATION"];
const HEADERS = [
  ["NONE", "None"],
  ["TEXT", "Text"],
  ["IMAGE", "Image"],
  ["VIDEO", "Video"],
  ["DOCUMENT", "Document"],
];
const BUTTON_TYPES = [
  ["QUICK_REPLY", "Quick reply"],
  ["URL", "Visit website"],
  ["PHONE_NUMBER", "Call phone number"],
];
const LANGUAGES = ["en_US", "en_GB", "de", "fr", "es", "es_MX", "pt_BR", "pt_PT", "it", "nl", "pl", "tr", "ar", "hi", "id", "ru", "ja", "zh_CN"];

let savedChannel = "";

export function Templates() {
  const channels = useChannels();
  const [channel, setChannel] = useState(savedChannel);
  const [nameInput, setNameInput] = useState("");
  const name = useDebounced(nameInput.trim(), 300);
  const [status, setStatus] = useState("");
  const [list, setList] = useState(null);
  const [error, setError] = useState(null);
  const [reload, setReload] = useState(0);
  const [lastSync, setLastSync] = useState(null);
  const page = useForm();
  const formBox = useRef(null);

  savedChannel = channel;
  useEffect(() => {
    if (channels.length && !channels.some((c) => c.phone_number_id === channel)) setChannel(channels[0].phone_number_id);
  }, [channels]);

  useEffect(() => {
    if (!channel) return undefined;
    let on = true;
    setError(null);
    api.get(`/v1/channels/${seg(channel)}/templates`, { name, status }).then(
      (r) => {
        if (!on) return;
        const data = (r && r.data) || [];
        setList(data);
        const newest = Math.max(0, ...data.map((t) => t.synced_at || 0));
        if (newest) setLastSync((s) => Math.max(s || 0, newest));
      },
      (e) => on && setError(e.message),
    );
    return () => {
      on = false;
    };
  }, [channel, name, status, reload]);

  const switchChannel = (id) => {
    setChannel(id);
    setList(null);
    setLastSync(null);
    page.reset();
  };

  const sync = () =>
    page.run(async () => {
      // A WABA with more templates than one request fetches goes on from
      // `next` (WhatsApp allows at most 6,000: two requests).
      let r = await api.post(`/v1/channels/${seg(channel)}/templates/sync`);
      let synced = r.synced;
      for (let i = 0; r.next && i < 10; i++) {
        r = await api.post(withQuery(`/v1/channels/${seg(channel)}/templates/sync`, { after: r.next }));
        synced += r.synced;
      }
      setLastSync(r.synced_at);
      setReload((n) => n + 1);
      const more = r.next ? " More remain: sync again to go on." : "";
      page.setNotice(`Synced ${synced} template${synced === 1 ? "" : "s"} from WhatsApp.${more}`);
    });

  const remove = async (t) => {
    await page.run(async () => {
      await api.del(`/v1/channels/${seg(channel)}/templates/${seg(t.name)}`);
      setReload((n) => n + 1);
      page.setNotice(`Deleted “${t.name}”.`);
    });
  };

  return html`<div class="page">
    <div class="page-head">
      <h1>Templates</h1>
      <button
        type="button"
        class="btn primary"
        data-testid="template-new"
        onClick=${() => {
          const el = formBox.current;
          if (!el) return;
          el.scrollIntoView({ behavior: "smooth", block: "start" });
          const first = el.querySelector("input");
          if (first) first.focus({ preventScroll: true });
        }}
      >
        New template
      </button>
    </div>
    <div class="card" ref=${page.ref}>
      <div class="toolbar">
        <${Select}
          label="Channel"
          name="channel"
          data-testid="template-channel"
          value=${channel}
          onChange=${(e) => switchChannel(e.currentTarget.value)}
          options=${channels.length ? channelOptions(channels) : [["", "No channels"]]}
        />
        <${Input}
          label="Search by name"
          type="search"
          name="template_search"
          data-testid="template-search"
          value=${nameInput}
          onInput=${(e) => setNameInput(e.currentTarget.value)}
        />
        <${Select} label="Status" name="status" data-testid="template-status-filter" value=${status} onChange=${(e) => setStatus(e.currentTarget.value)} options=${STATUSES} />
        <div class="toolbar-end">
          <span class="hint" data-testid="templates-synced-at">Last sync: ${lastSync ? localFromMs(lastSync) : "never"}</span>
          <button type="button" class="btn" data-testid="templates-sync" onClick=${sync} disabled=${!channel || page.busy}>
            ${page.busy ? "Working…" : "Sync templates"}
          </button>
        </div>
      </div>
      <${FormMessages} form=${page} />
    </div>
    ${!channels.length && html`<p class="empty">Add a channel first: templates belong to a channel's WhatsApp Business Account.</p>`}
    ${error && html`<div class="banner error" role="alert">Could not load templates: ${error}</div>`}
    ${channel && list === null && !error && html`<p class="empty">Loading templates…</p>`}
    ${list && !list.length && html`<p class="empty">${name || status ? "No template matches." : "No templates stored. Sync them from WhatsApp."}</p>`}
    <div class="rows">${(list || []).map((t) => html`<${TemplateRow} key=${t.id} t=${t} onDelete=${() => remove(t)} />`)}</div>
    <div ref=${formBox} class="after-rows">${channel && html`<${TemplateForm} channel=${channel} onSubmitted=${() => setReload((n) => n + 1)} />`}</div>
  </div>`;
}

function TemplateRow({ t, onDelete }) {
  const [open, setOpen] = useState(false);
  const parts = templateParts(t.components);
  const st = String(t.status || "").toUpperCase();
  return html`<div class="row template-row" data-testid="template-row" data-name=${t.name} data-status=${st}>
    <div class="row-main">
      <strong>${t.name}</strong>
      <span class="muted">${t.language}${t.category ? ` · ${t.category}` : ""}</span>
      ${parts.body && html`<span class="snippet">${parts.body}</span>`}
      ${st === "REJECTED" &&
      html`<span class="reject" data-testid="rejected-reason">Rejected${t.rejected_reason && t.rejected_reason !== "NONE" ? `: ${t.rejected_reason}` : ""}</span>`}
      ${open && (t.components ? html`<${TemplatePreview} parts=${parts} />` : html`<p class="hint">Known only from a status update; sync to see its content.</p>`)}
    </div>
    <div class="row-side">
      <span class=${`badge status-${st.toLowerCase()}`} data-testid="template-status">${st || "UNKNOWN"}</span>
      <button type="button" class="btn small" aria-expanded=${open} onClick=${() => setOpen(!open)}>${open ? "Hide" : "Preview"}</button>
      <${ConfirmButton}
        label="Delete"
        class="small danger-outline"
        testid="template-delete"
        confirmTestid="template-delete-confirm"
        question=${`Delete “${t.name}” in every language?`}
        confirmLabel="Delete"
        onConfirm=${onDelete}
      />
    </div>
  </div>`;
}

const blankTemplate = () => ({
  name: "",
  category: "UTILITY",
  language: "en_US",
  header_format: "NONE",
  header_text: "",
  header_examples: {},
  header_handle: "",
  body: "",
  body_examples: {},
  footer: "",
  buttons: [],
});

/** Graph's template submission from the form, and which component each index is. */
function buildTemplate(v) {
  const components = [];
  const kinds = [];
  if (v.header_format !== "NONE") {
    const c = { type: "HEADER", format: v.header_format };
    if (v.header_format === "TEXT") {
      c.text = v.header_text;
      const vars = templateVariables(v.header_text);
      if (vars.length) c.example = { header_text: vars.map((x) => v.header_examples[x] || "") };
    } else c.example = { header_handle: [v.header_handle.trim()] };
    components.push(c);
    kinds.push("HEADER");
  }
  const body = { type: "BODY", text: v.body };
  const vars = templateVariables(v.body);
  if (vars.length) body.example = { body_text: [vars.map((x) => v.body_examples[x] || "")] };
  components.push(body);
  kinds.push("BODY");
  if (v.footer.trim()) {
    components.push({ type: "FOOTER", text: v.footer });
    kinds.push("FOOTER");
  }
  if (v.buttons.length) {
    components.push({
      type: "BUTTONS",
      buttons: v.buttons.map((b) => {
        if (b.type === "URL") {
          const out = { type: "URL", text: b.text, url: b.url.trim() };
          if (templateVariables(b.url).length) out.example = [b.example.trim()];
          return out;
        }
        if (b.type === "PHONE_NUMBER") return { type: "PHONE_NUMBER", text: b.text, phone_number: b.phone_number.trim() };
        return { type: "QUICK_REPLY", text: b.text };
      }),
    });
    kinds.push("BUTTONS");
  }
  return { submission: { name: v.name.trim(), category: v.category, language: v.language.trim(), components }, kinds };
}

/** The form input an API field path (`components[1].text`, ...) belongs to. */
function fieldAlias(kinds, v) {
  return (path) => {
    const m = /^components\.(\d+)(?:\.(.*))?$/.exec(path);
    if (!m) return null;
    const rest = m[2] || "";
    switch (kinds[Number(m[1])]) {
      case "HEADER":
        if (rest.startsWith("example.header_handle")) return "header_handle";
        if (rest.startsWith("example")) return "header_example.0";
        return v.header_format === "TEXT" && rest !== "format" ? "header_text" : "header_format";
      case "BODY": {
        const e = /^example\.body_text(?:\.\d+)?\.(\d+)/.exec(rest);
        return e ? `body_example.${e[1]}` : "body";
      }
      case "FOOTER":
        return "footer";
      case "BUTTONS": {
        const b = /^buttons\.(\d+)(?:\.(\w+))?/.exec(rest);
        if (!b) return "buttons.0.text";
        return `buttons.${b[1]}.${["url", "phone_number", "example", "type"].includes(b[2]) ? b[2] : "text"}`;
      }
      default:
        return null;
    }
  };
}

function TemplateForm({ channel, onSubmitted }) {
  const form = useForm();
  const [v, setV] = useState(blankTemplate);
  const set = (k, val) => setV((old) => ({ ...old, [k]: val }));
  const bind = (k) => ({ value: v[k], onInput: (e) => set(k, e.currentTarget.value) });
  const bodyVars = templateVariables(v.body);
  const headerVars = v.header_format === "TEXT" ? templateVariables(v.header_text) : [];
  const setButton = (i, k, val) => set("buttons", v.buttons.map((b, j) => (j === i ? { ...b, [k]: val } : b)));

  const submit = (e) => {
    e.preventDefault();
    const { submission, kinds } = buildTemplate(v);
    form.run(async () => {
      const r = await api.post(`/v1/channels/${seg(channel)}/templates`, submission);
      setV(blankTemplate());
      onSubmitted();
      form.setNotice(`Submitted “${r.name}” (${r.language}): ${r.status}.`);
    }, fieldAlias(kinds, v));
  };

  const parts = {
    header: v.header_format === "NONE" ? null : { format: v.header_format, text: v.header_text },
    body: v.body,
    footer: v.footer,
    buttons: v.buttons,
  };

  return html`<form class="card template-form" ref=${form.ref} novalidate onSubmit=${submit}>
    <h2>Submit a template</h2>
    <${FormMessages} form=${form} />
    <div class="form-with-preview">
      <div class="form-fields">
        <div class="grid-2">
          <${Input} form=${form} label="Name" name="name" hint="Lowercase letters, digits and _." autocomplete="off" ...${bind("name")} />
          <${Select} form=${form} label="Category" name="category" options=${CATEGORIES} value=${v.category} onChange=${(e) => set("category", e.currentTarget.value)} />
          <${Input} form=${form} label="Language" name="language" list="template-languages" hint="For example en_US or de." ...${bind("language")} />
          <datalist id="template-languages">${LANGUAGES.map((l) => html`<option value=${l} key=${l} />`)}</datalist>
          <${Select} form=${form} label="Header" name="header_format" options=${HEADERS} value=${v.header_format} onChange=${(e) => set("header_format", e.currentTarget.value)} />
        </div>
        ${v.header_format === "TEXT" &&
        html`<${Input} form=${form} label="Header text" name="header_text" limit=${60} hint="At most one variable, {{1}}." ...${bind("header_text")} />`}
        ${headerVars.map(
          (x, i) => html`<${Input}
            form=${form}
            key=${`h${x}`}
            label=${`Example for the header's {{${x}}}`}
            name=${`header_example.${i}`}
            value=${v.header_examples[x] || ""}
            onInput=${(e) => set("header_examples", { ...v.header_examples, [x]: e.currentTarget.value })}
          />`,
        )}
        ${["IMAGE", "VIDEO", "DOCUMENT"].includes(v.header_format) &&
        html`<${Input}
          form=${form}
          label="Sample media handle"
          name="header_handle"
          hint="The handle of a sample file uploaded with Meta's Resumable Upload API (it starts with 4::)."
          ...${bind("header_handle")}
        />`}
        <${TextArea}
          form=${form}
          label="Body"
          name="body"
          rows="5"
          limit=${1024}
          hint="Use {{1}}, {{2}}, … for variables, in order. *bold*, _italic_, ~strike~ and \`\`\`mono\`\`\` work."
          ...${bind("body")}
        />
        ${bodyVars.map(
          (x, i) => html`<${Input}
            form=${form}
            key=${`b${x}`}
            label=${`Example for {{${x}}}`}
            name=${`body_example.${i}`}
            value=${v.body_examples[x] || ""}
            onInput=${(e) => set("body_examples", { ...v.body_examples, [x]: e.currentTarget.value })}
          />`,
        )}
        <${Input} form=${form} label="Footer (optional)" name="footer" limit=${60} ...${bind("footer")} />
        <fieldset class="buttons-editor">
          <legend>Buttons (optional, up to 10: one website, one phone number, three quick replies)</legend>
          ${v.buttons.map(
            (b, i) => html`<div class="button-row" key=${i}>
              <${Select} form=${form} label="Type" name=${`buttons.${i}.type`} options=${BUTTON_TYPES} value=${b.type} onChange=${(e) => setButton(i, "type", e.currentTarget.value)} />
              <${Input}
                form=${form}
                label="Button text"
                name=${`buttons.${i}.text`}
                limit=${b.type === "QUICK_REPLY" ? 20 : 25}
                value=${b.text}
                onInput=${(e) => setButton(i, "text", e.currentTarget.value)}
              />
              ${b.type === "URL" &&
              html`<${Input}
                form=${form}
                label="URL"
                name=${`buttons.${i}.url`}
                placeholder="https://example.com/orders/{{1}}"
                value=${b.url}
                onInput=${(e) => setButton(i, "url", e.currentTarget.value)}
              />`}
              ${b.type === "URL" &&
              templateVariables(b.url).length > 0 &&
              html`<${Input}
                form=${form}
                label="Example URL"
                name=${`buttons.${i}.example`}
                placeholder="https://example.com/orders/A-1042"
                value=${b.example}
                onInput=${(e) => setButton(i, "example", e.currentTarget.value)}
              />`}
              ${b.type === "PHONE_NUMBER" &&
              html`<${Input}
                form=${form}
                label="Phone number"
                name=${`buttons.${i}.phone_number`}
                placeholder="+15550001111"
                value=${b.phone_number}
                onInput=${(e) => setButton(i, "phone_number", e.currentTarget.value)}
              />`}
              <button type="button" class="btn ghost small" aria-label=${`Remove button ${i + 1}`} onClick=${() => set("buttons", v.buttons.filter((_, j) => j !== i))}>✕</button>
            </div>`,
          )}
          <button
            type="button"
            class="btn small"
            data-testid="template-add-button"
            disabled=${v.buttons.length >= 10}
            onClick=${() => set("buttons", [...v.buttons, { type: "QUICK_REPLY", text: "", url: "", example: "", phone_number: "" }])}
          >
            Add button
          </button>
        </fieldset>
      </div>
      <div class="preview-col">
        <h3>Preview</h3>
        <${TemplatePreview} parts=${parts} headerValues=${v.header_examples} bodyValues=${v.body_examples} testid="template-form-preview" />
      </div>
    </div>
    <div class="actions"><button type="submit" class="btn primary" data-testid="template-submit" disabled=${form.busy}>${form.busy ? "Submitting…" : "Submit for review"}</button></div>
  </form>`;
}

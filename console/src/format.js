// format.js — turning API data into words and Preact nodes: WhatsApp text
// formatting (built as DOM nodes, never innerHTML), contact and channel names,
// times and the 24-hour window, message previews, and template text (variables,
// filling them in, and the template bubble preview).
import { h } from "preact";

// ---- WhatsApp formatting ---------------------------------------------------

const MARKS = { "*": "strong", _: "em", "~": "s" };
const WORD = /[\p{L}\p{N}]/u;
const SPACE = /\s/;
const URL_RE = /\b(?:https?:\/\/|www\.)[^\s<>"]+/giu;

/** WhatsApp's *bold*, _italic_, ~strike~, ```mono```, `code` and links, as nodes. */
export function formatWhatsApp(text) {
  if (text === null || text === undefined || text === "") return [];
  const out = [];
  String(text)
    .split(/```([\s\S]+?)```/)
    .forEach((part, i) => {
      if (i % 2) out.push(h("code", { class: "wa-mono" }, part));
      else
        part.split(/`([^`\n]+)`/).forEach((p, j) => {
          if (j % 2) out.push(h("code", { class: "wa-code" }, p));
          else out.push(...linkify(p));
        });
    });
  return out;
}

function linkify(text) {
  const out = [];
  let last = 0;
  for (const m of text.matchAll(URL_RE)) {
    let url = m[0];
    while (/[.,;:!?*_~)\]}'"]$/.test(url)) {
      if (url.endsWith(")") && count(url, "(") >= count(url, ")")) break;
      url = url.slice(0, -1);
    }
    if (!url || url.length < 5) continue;
    out.push(...styled(text.slice(last, m.index)));
    const href = /^https?:/i.test(url) ? url : `https://${url}`;
    out.push(h("a", { href, target: "_blank", rel: "noopener noreferrer" }, url));
    last = m.index + url.length;
  }
  out.push(...styled(text.slice(last)));
  return out;
}

const count = (s, c) => s.split(c).length - 1;

function styled(text) {
  const out = [];
  let buf = "";
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (
      MARKS[c] &&
      (i === 0 || !WORD.test(text[i - 1])) &&
      i + 1 < text.length &&
      !SPACE.test(text[i + 1]) &&
      text[i + 1] !== c
    ) {
      const j = closing(text, i, c);
      if (j > 0) {
        if (buf) out.push(buf);
        buf = "";
        out.push(h(MARKS[c], null, styled(text.slice(i + 1, j))));
        i = j + 1;
        continue;
      }
    }
    buf += c;
    i += 1;
  }
  if (buf) out.push(buf);
  return out;
}

function closing(text, i, c) {
  for (let j = i + 2; j < text.length; j++) {
    const ch = text[j];
    if (ch === "\n") return -1;
    if (ch === c && !SPACE.test(text[j - 1]) && (j + 1 === text.length || !WORD.test(text[j + 1]))) return j;
  }
  return -1;
}

// ---- Names -------------------------------------------------------------------

/** saved_name, else profile_name, username, phone, BSUID, id. */
/** `u` when it is an http(s) URL, else undefined: links built from message data go nowhere else. */
export function safeHref(u) {
  return typeof u === "string" && /^https?:\/\//i.test(u) ? u : undefined;
}

export function displayName(c) {
  if (!c) return "Unknown contact";
  return c.saved_name || c.profile_name || c.username || c.phone || c.user_id || c.id || "Unknown contact";
}

export function initials(name) {
  const words = String(name || "?")
    .split(/\s+/)
    .map((w) => w.replace(/[^\p{L}\p{N}]/gu, ""))
    .filter(Boolean);
  const letters = words.length > 1 ? [words[0], words[words.length - 1]] : words;
  return letters.map((w) => [...w][0] || "").join("").toUpperCase() || "?";
}

/** The channel's name, else its display number, else the phone_number_id. */
export function channelLabel(channels, pnid) {
  const c = (channels || []).find((x) => x.phone_number_id === pnid);
  return (c && (c.name || c.display_phone_number)) || pnid || "";
}

/** [phone_number_id, label] pairs for a channel <select>, after any `first` pairs. */
export function channelOptions(channels, ...first) {
  return [...first, ...(channels || []).map((c) => [c.phone_number_id, channelLabel(channels, c.phone_number_id)])];
}

// ---- Times ---------------------------------------------------------------------

const sameDay = (a, b) => a.toDateString() === b.toDateString();

/** "now", "5m", "3h", "2d", then a short date; from unix seconds. */
export function relativeTime(sec) {
  if (!sec) return "";
  const ago = Date.now() / 1000 - sec;
  if (ago < 45) return "now";
  if (ago < 3600) return `${Math.max(1, Math.round(ago / 60))}m`;
  if (ago < 86400) return `${Math.floor(ago / 3600)}h`;
  if (ago < 7 * 86400) return `${Math.floor(ago / 86400)}d`;
  const d = new Date(sec * 1000);
  const opts = { day: "numeric", month: "short" };
  if (d.getFullYear() !== new Date().getFullYear()) opts.year = "numeric";
  return d.toLocaleDateString(undefined, opts);
}

/** "14:05" from unix seconds. */
export function clockTime(sec) {
  if (!sec) return "";
  return new Date(sec * 1000).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}

/** "Today", "Yesterday" or a date, for the day separators of a thread. */
export function dayLabel(sec) {
  const d = new Date(sec * 1000);
  const now = new Date();
  if (sameDay(d, now)) return "Today";
  const y = new Date(now);
  y.setDate(now.getDate() - 1);
  if (sameDay(d, y)) return "Yesterday";
  return d.toLocaleDateString(undefined, { weekday: "short", day: "numeric", month: "short", year: "numeric" });
}

/** Local date and time from unix seconds ("—" for none). */
export function localDateTime(sec) {
  return sec ? new Date(sec * 1000).toLocaleString() : "—";
}

/** Local date and time from milliseconds since the epoch ("—" for none). */
export function localFromMs(ms) {
  return ms ? new Date(ms).toLocaleString() : "—";
}

/** "Open · 23h left", "Open · 40m left" or "Closed". */
export function windowLabel(w) {
  if (!w || !w.open) return "Closed";
  if (!w.closes_at) return "Open";
  const left = w.closes_at - Date.now() / 1000;
  if (left <= 0) return "Closed";
  if (left < 3600) return `Open · ${Math.max(1, Math.floor(left / 60))}m left`;
  return `Open · ${Math.floor(left / 3600)}h left`;
}

export function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10240 ? 1 : 0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** JSON, indented for a <pre>; text that is not JSON stays as it is. */
export function pretty(value) {
  if (typeof value === "string") {
    try {
      return JSON.stringify(JSON.parse(value), null, 2);
    } catch {
      return value;
    }
  }
  return JSON.stringify(value, null, 2);
}

// ---- Message previews -----------------------------------------------------------

/** One line about a message (or a Graph message object): its text or what it is. */
export function messagePreview(m) {
  if (!m) return "";
  const t = m.type;
  const c = (t && m[t]) || {};
  switch (t) {
    case "text":
      return c.body || "";
    case "image":
      return c.caption ? `📷 ${c.caption}` : "📷 Photo";
    case "video":
      return c.caption ? `🎥 ${c.caption}` : "🎥 Video";
    case "audio":
      return c.voice ? "🎤 Voice message" : "🎵 Audio";
    case "document":
      return `📄 ${c.filename || c.caption || "Document"}`;
    case "sticker":
      return "💟 Sticker";
    case "location":
      return `📍 ${c.name || c.address || "Location"}`;
    case "contacts":
      return `👤 ${(Array.isArray(c) && c[0] && c[0].name && c[0].name.formatted_name) || "Contact"}`;
    case "interactive":
      return interactivePreview(c);
    case "button":
      return c.text || "Button";
    case "reaction":
      return c.emoji ? `Reacted ${c.emoji}` : "Removed a reaction";
    case "template":
      return `Template: ${c.name || ""}`;
    case "order":
      return "🛒 Order";
    case "system":
      return c.body || "System notice";
    default:
      return `Unsupported message (${(m.unsupported && m.unsupported.type) || t || "unknown"})`;
  }
}

function interactivePreview(c) {
  if (c.button_reply) return c.button_reply.title || "Button reply";
  if (c.list_reply) return c.list_reply.title || "List reply";
  if (c.nfm_reply) return "Form response";
  return (c.body && c.body.text) || "Interactive message";
}

// ---- Templates -------------------------------------------------------------------

const VAR_RE = /\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g;

/** The variables of a template text in order ({{1}}, {{2}} by number; named ones as written), each once. */
export function templateVariables(text) {
  const seen = [];
  for (const m of String(text || "").matchAll(VAR_RE)) if (!seen.includes(m[1])) seen.push(m[1]);
  return seen.every((v) => /^\d+$/.test(v)) ? seen.sort((a, b) => a - b) : seen;
}

/** The text with each {{var}} replaced by its value (left as written when empty). */
export function fillTemplate(text, values) {
  return String(text || "").replace(VAR_RE, (all, name) => {
    const v = values && values[name];
    return v ? v : all;
  });
}

/** A Graph template's components by kind: {header, body, footer, buttons}. */
export function templateParts(components) {
  const find = (type) => (components || []).find((c) => String(c.type || "").toUpperCase() === type);
  const header = find("HEADER");
  const body = find("BODY");
  const footer = find("FOOTER");
  const buttons = find("BUTTONS");
  return {
    header: header ? { format: String(header.format || "TEXT").toUpperCase(), text: header.text || "" } : null,
    body: (body && body.text) || "",
    footer: (footer && footer.text) || "",
    buttons: (buttons && buttons.buttons) || [],
  };
}

const HEADER_ICONS = { IMAGE: "🖼 Image", VIDEO: "🎥 Video", DOCUMENT: "📄 Document", LOCATION: "📍 Location" };
const BUTTON_ICONS = { URL: "↗", PHONE_NUMBER: "📞", QUICK_REPLY: "↩", COPY_CODE: "⧉" };

/** A template drawn as the WhatsApp bubble the customer would see. */
export function TemplatePreview({ parts, headerValues, bodyValues, testid }) {
  const { header, body, footer, buttons } = parts;
  return h(
    "div",
    { class: "wa-preview", "data-testid": testid, "aria-label": "Preview" },
    h(
      "div",
      { class: "bubble tpl" },
      header &&
        (header.format === "TEXT"
          ? h("div", { class: "tpl-header" }, formatWhatsApp(fillTemplate(header.text, headerValues)))
          : h("div", { class: "tpl-media" }, HEADER_ICONS[header.format] || header.format)),
      h("div", { class: "tpl-body" }, body ? formatWhatsApp(fillTemplate(body, bodyValues)) : h("span", { class: "muted" }, "Body text")),
      footer && h("div", { class: "tpl-footer" }, footer),
    ),
    buttons.length > 0 &&
      h(
        "div",
        { class: "tpl-buttons" },
        buttons.map((b, i) =>
          h("span", { class: "tpl-button", key: i }, `${BUTTON_ICONS[String(b.type || "").toUpperCase()] || "•"} ${b.text || "Button"}`),
        ),
      ),
  );
}

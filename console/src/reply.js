// reply.js — the box under a conversation: text with Enter to send, emoji,
// attachments checked against WhatsApp's limits and uploaded through
// POST /v1/media, and, once the 24-hour window is closed, the approved-template
// picker with its parameters and live preview. Every send is queued in the
// thread at once and goes through POST /v1/messages with its own Idempotency-Key.
import { useEffect, useRef, useState } from "preact/hooks";
import { html } from "./html.js";
import { api, seg, uuid } from "./api.js";
import { bytes, templateParts, templateVariables, TemplatePreview } from "./format.js";
import { FormMessages, Input, Select, TextArea, useForm } from "./forms.js";

// WhatsApp's kinds of media, their types and size limits: the server's own
// table (GET /v1/media/limits), read once.
let limitsOnce = null;
const mediaLimits = () => {
  limitsOnce ??= api.get("/v1/media/limits").then((l) => l.kinds, (e) => {
    limitsOnce = null;
    throw e;
  });
  return limitsOnce;
};
const TYPE_ALIASES = {
  "image/jpg": "image/jpeg",
  "image/pjpeg": "image/jpeg",
  "audio/mp3": "audio/mpeg",
  "audio/x-m4a": "audio/mp4",
  "audio/m4a": "audio/mp4",
  "audio/x-aac": "audio/aac",
  "audio/opus": "audio/ogg",
  "video/3gp": "video/3gpp",
};
const BY_EXTENSION = {
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  png: "image/png",
  webp: "image/webp",
  mp4: "video/mp4",
  "3gp": "video/3gpp",
  aac: "audio/aac",
  amr: "audio/amr",
  mp3: "audio/mpeg",
  m4a: "audio/mp4",
  ogg: "audio/ogg",
  opus: "audio/ogg",
  txt: "text/plain",
  pdf: "application/pdf",
  doc: "application/msword",
  xls: "application/vnd.ms-excel",
  ppt: "application/vnd.ms-powerpoint",
  docx: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
  pptx: "application/vnd.openxmlformats-officedocument.presentationml.presentation",
};
const CAPTIONED = ["image", "video", "document"];

/** The WhatsApp kind and MIME type of a file, or the reason WhatsApp would refuse it. */
async function checkFile(file) {
  const kinds = await mediaLimits();
  const find = (t) => kinds.find((k) => k.types.includes(t));
  let type = String(file.type || "").toLowerCase().split(";")[0].trim();
  type = TYPE_ALIASES[type] || type;
  let kind = find(type);
  if (!kind) {
    const ext = (file.name.split(".").pop() || "").toLowerCase();
    type = BY_EXTENSION[ext] || type;
    kind = find(type);
  }
  if (!kind)
    return {
      error: `WhatsApp does not take ${type ? `“${type}” files` : "this kind of file"}. It takes JPEG or PNG images, WebP stickers, MP4 or 3GPP video, AAC, AMR, MP3, MP4 or OGG audio, and text, PDF or Office documents.`,
    };
  const { kind: name, max_bytes: limit } = kind;
  if (!file.size) return { error: "The file is empty." };
  if (file.size > limit) return { error: `${file.name} is ${bytes(file.size)}; WhatsApp takes ${name}s of up to ${bytes(limit)}.` };
  return { kind: name, type };
}

function upload(file, type, pnid) {
  return api.post("/v1/media", file, { query: { channel: pnid, filename: file.name }, contentType: type });
}

// API field paths of a send, mapped to the reply box's inputs.
const alias = (p) => {
  if (/^(image|video|document)\.caption$/.test(p) || /^text(\.|$)/.test(p)) return "body";
  if (/^(image|video|audio|document|sticker)(\.|$)/.test(p)) return "file";
  return null;
};

const ICON_SMILE = html`<svg class="icon-svg" viewBox="0 0 24 24" aria-hidden="true"><circle cx="12" cy="12" r="9" /><path d="M8.5 14.5c1.8 2 5.2 2 7 0" /><path d="M9 9.5h.01M15 9.5h.01" stroke-width="2.6" /></svg>`;
const ICON_CLIP = html`<svg class="icon-svg" viewBox="0 0 24 24" aria-hidden="true"><path d="M20 11.5l-7.8 7.8a5 5 0 0 1-7.1-7.1l8.5-8.5a3.3 3.3 0 0 1 4.7 4.7l-8.5 8.5a1.7 1.7 0 0 1-2.4-2.4l7.8-7.8" /></svg>`;

const EMOJI = [
  "😀", "😂", "😊", "😍", "😘", "😉", "😎", "🤔", "😅", "😢", "😭", "😡", "😮", "🙄", "😴", "🤗", "🙏", "👍", "👎", "👏",
  "🙌", "👋", "👌", "✌️", "💪", "❤️", "💔", "🔥", "⭐", "✨", "🎉", "🎁", "✅", "❌", "⚠️", "📦", "🚚", "💬", "📞", "⏰",
];

/**
 * The reply box. `onQueued(localMessage)` puts a queued bubble in the
 * thread; `onSent(localId, {id, status})` and `onFailed(localId)` settle it.
 */
export function Reply(props) {
  const { contactId, pnid, open, optedOut, onQueued, onSent, onFailed, onWindowClosed } = props;

  /** Queues `local` in the thread, builds the message (uploading first if need be) and sends it. */
  const deliver = async (local, build) => {
    const localId = `local_${uuid()}`;
    const key = uuid();
    onQueued({ id: localId, _local: true, direction: "out", status: "queued", timestamp: Math.floor(Date.now() / 1000), ...local });
    try {
      const payload = await build();
      const res = await api.post("/v1/messages", { from: pnid, contact: contactId, ...payload }, { headers: { "Idempotency-Key": key } });
      onSent(localId, res || {});
    } catch (e) {
      onFailed(localId);
      if (e.code === "outside_window") onWindowClosed();
      throw e;
    }
  };

  if (open && !optedOut) return html`<${Composer} pnid=${pnid} deliver=${deliver} />`;
  return html`<div class="reply closed">
    <div class="window-closed" data-testid="window-closed" role="status">
      ${optedOut ? "This contact opted out." : "The 24-hour window is closed: only an approved template can be sent."}
    </div>
    ${optedOut && html`<p class="hint">Nothing can be sent to them from this number, templates included, until they send START.</p>`}
    <${TemplateSender} pnid=${pnid} deliver=${deliver} disabled=${optedOut} />
  </div>`;
}

function Composer({ pnid, deliver }) {
  const form = useForm();
  const [text, setText] = useState("");
  const [file, setFile] = useState(null);
  const [emojiOpen, setEmojiOpen] = useState(false);
  const box = useRef(null);

  const pickFile = async (e) => {
    const f = e.currentTarget.files && e.currentTarget.files[0];
    e.currentTarget.value = "";
    if (!f) return;
    const checked = await checkFile(f).catch((err) => ({ error: err.message }));
    if (checked.error) {
      form.invalid({ file: checked.error });
      return;
    }
    form.clearField("file");
    if (file && file.url) URL.revokeObjectURL(file.url);
    setFile({ file: f, ...checked, url: URL.createObjectURL(f) });
  };

  const removeFile = () => {
    if (file && file.url) URL.revokeObjectURL(file.url);
    setFile(null);
  };

  const insertEmoji = (emoji) => {
    const el = box.current;
    const start = el ? el.selectionStart : text.length;
    const end = el ? el.selectionEnd : text.length;
    setText(text.slice(0, start) + emoji + text.slice(end));
    requestAnimationFrame(() => {
      if (!el) return;
      el.focus();
      el.selectionStart = el.selectionEnd = start + emoji.length;
    });
  };

  const send = () => {
    const body = text;
    const att = file;
    if (form.busy || (!att && !body.trim())) return;
    setText("");
    setFile(null);
    setEmojiOpen(false);
    form.run(async () => {
      try {
        if (!att) {
          await deliver({ type: "text", text: { body } }, () => ({ type: "text", text: { body } }));
          return;
        }
        const content = {};
        if (CAPTIONED.includes(att.kind) && body.trim()) content.caption = body;
        if (att.kind === "document") content.filename = att.file.name;
        const local = { type: att.kind, [att.kind]: { ...content }, _localUrl: att.kind === "document" ? null : att.url };
        await deliver(local, async () => {
          const up = await upload(att.file, att.type, pnid);
          return { type: att.kind, [att.kind]: { id: up.id, ...content } };
        });
        // Audio and stickers take no caption: the text follows as its own message.
        if (!CAPTIONED.includes(att.kind) && body.trim())
          await deliver({ type: "text", text: { body } }, () => ({ type: "text", text: { body } }));
      } catch (e) {
        setText((t) => t || body);
        setFile((f) => f || att);
        throw e;
      }
    }, alias);
  };

  return html`<form
    class="reply"
    ref=${form.ref}
    novalidate
    onSubmit=${(e) => {
      e.preventDefault();
      send();
    }}
  >
    <${FormMessages} form=${form} />
    ${file &&
    html`<div class="attachment" data-testid="attachment">
      <span aria-hidden="true">📎</span>
      <span class="attachment-name">${file.file.name}</span>
      <span class="muted">${file.kind} · ${bytes(file.file.size)}</span>
      <button type="button" class="btn ghost small" aria-label="Remove the attachment" onClick=${removeFile}>✕</button>
    </div>`}
    ${emojiOpen &&
    html`<div class="emoji-picker" data-testid="emoji-picker" role="group" aria-label="Emoji">
      ${EMOJI.map((e) => html`<button type="button" key=${e} aria-label=${`Insert ${e}`} onClick=${() => insertEmoji(e)}>${e}</button>`)}
    </div>`}
    <div class="reply-row">
      <button
        type="button"
        class="btn ghost icon"
        data-testid="emoji-button"
        aria-label="Emoji"
        aria-expanded=${emojiOpen}
        onClick=${() => setEmojiOpen(!emojiOpen)}
      >
        ${ICON_SMILE}
      </button>
      <${Input}
        form=${form}
        class="attach"
        label=${ICON_CLIP}
        type="file"
        name="file"
        aria-label="Attach a file"
        title="Attach a file"
        data-testid="reply-file"
        onChange=${pickFile}
        accept=${Object.keys(BY_EXTENSION).map((x) => `.${x}`).join(",")}
      />
      <${TextArea}
        form=${form}
        class="reply-text"
        label="Message"
        labelHidden
        name="body"
        field="text.body"
        rows="1"
        placeholder=${file ? "Add a caption (optional)" : "Type a message"}
        title="Enter sends; Shift+Enter starts a new line"
        data-testid="reply-text"
        value=${text}
        inputRef=${box}
        onInput=${(e) => setText(e.currentTarget.value)}
        onKeyDown=${(e) => {
          if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
            e.preventDefault();
            send();
          } else if (e.key === "Escape") setEmojiOpen(false);
        }}
      />
      <button type="submit" class="btn primary" data-testid="reply-send" disabled=${form.busy || (!file && !text.trim())}>Send</button>
    </div>
  </form>`;
}

const isPositional = (v) => /^\d+$/.test(v);
const param = (v, text) => (isPositional(v) ? { type: "text", text } : { type: "text", parameter_name: v, text });

function TemplateSender({ pnid, deliver, disabled }) {
  const form = useForm();
  const [templates, setTemplates] = useState(null);
  const [loadError, setLoadError] = useState(null);
  const [selected, setSelected] = useState("");
  const [bodyValues, setBodyValues] = useState({});
  const [headerValues, setHeaderValues] = useState({});
  const [urlValues, setUrlValues] = useState({});
  const [headerFile, setHeaderFile] = useState(null);

  useEffect(() => {
    api.get(`/v1/channels/${seg(pnid)}/templates`, { status: "APPROVED" }).then(
      (r) => setTemplates((r && r.data) || []),
      (e) => setLoadError(e.message),
    );
  }, [pnid]);

  const t = templates && templates.find((x) => `${x.name}|${x.language}` === selected);
  const parts = t ? templateParts(t.components) : null;
  const header = parts && parts.header;
  const headerVars = header && header.format === "TEXT" ? templateVariables(header.text) : [];
  const mediaHeader = header && ["IMAGE", "VIDEO", "DOCUMENT"].includes(header.format) ? header.format.toLowerCase() : null;
  const bodyVars = parts ? templateVariables(parts.body) : [];
  const urlButtons = parts
    ? parts.buttons.map((b, i) => ({ b, i })).filter(({ b }) => String(b.type).toUpperCase() === "URL" && templateVariables(b.url).length)
    : [];
  const bodyIndex = headerVars.length || mediaHeader ? 1 : 0;

  const choose = (key) => {
    setSelected(key);
    setBodyValues({});
    setHeaderValues({});
    setUrlValues({});
    setHeaderFile(null);
    form.reset();
  };

  const pickHeaderFile = async (e) => {
    const input = e.currentTarget;
    const f = input.files && input.files[0];
    if (!f) return setHeaderFile(null);
    const checked = await checkFile(f).catch((err) => ({ error: err.message }));
    if (checked.error || checked.kind !== mediaHeader) {
      input.value = "";
      setHeaderFile(null);
      form.invalid({ header_media: checked.error || `This template's header needs ${mediaHeader === "image" ? "an image" : `a ${mediaHeader}`}.` });
      return undefined;
    }
    setHeaderFile({ file: f, ...checked });
    return undefined;
  };

  const send = (e) => {
    e.preventDefault();
    if (!t) return;
    const missing = {};
    headerVars.forEach((v, i) => {
      if (!(headerValues[v] || "").trim()) missing[`header_param.${i}`] = `Fill in {{${v}}}.`;
    });
    if (mediaHeader && !headerFile) missing.header_media = `Choose the ${mediaHeader} for the header.`;
    bodyVars.forEach((v, i) => {
      if (!(bodyValues[v] || "").trim()) missing[`template_param.${i}`] = `Fill in {{${v}}}.`;
    });
    urlButtons.forEach(({ i }) => {
      if (!(urlValues[i] || "").trim()) missing[`url_param.${i}`] = "Fill in the link's ending.";
    });
    if (Object.keys(missing).length) return form.invalid(missing);
    const language = { code: t.language };
    const bodyComponent = bodyVars.length ? [{ type: "body", parameters: bodyVars.map((v) => param(v, bodyValues[v])) }] : [];
    form.run(async () => {
      await deliver({ type: "template", template: { name: t.name, language, components: bodyComponent } }, async () => {
        const components = [];
        if (mediaHeader) {
          const up = await upload(headerFile.file, headerFile.type, pnid);
          components.push({ type: "header", parameters: [{ type: mediaHeader, [mediaHeader]: { id: up.id } }] });
        } else if (headerVars.length) components.push({ type: "header", parameters: headerVars.map((v) => param(v, headerValues[v])) });
        components.push(...bodyComponent);
        urlButtons.forEach(({ i }) =>
          components.push({ type: "button", sub_type: "url", index: String(i), parameters: [{ type: "text", text: urlValues[i] }] }),
        );
        const template = { name: t.name, language };
        if (components.length) template.components = components;
        return { type: "template", template };
      });
      choose("");
      form.setNotice(`Template “${t.name}” queued.`);
    });
    return undefined;
  };

  const options = [["", templates === null && !loadError ? "Loading templates…" : "Choose an approved template…"]].concat(
    (templates || []).map((x) => [`${x.name}|${x.language}`, `${x.name} (${x.language})`]),
  );

  return html`<form class="template-sender" ref=${form.ref} novalidate onSubmit=${send}>
    <fieldset disabled=${disabled}>
      <${FormMessages} form=${form} />
      ${loadError && html`<div class="banner error" role="alert">Could not load templates: ${loadError}</div>`}
      ${templates && !templates.length && html`<p class="hint">No approved templates for this number. <a href="#/templates">Sync or submit templates</a>.</p>`}
      <${Select}
        form=${form}
        label="Template"
        name="template"
        field="template.name"
        data-testid="template-select"
        value=${selected}
        onChange=${(e) => choose(e.currentTarget.value)}
        options=${options}
      />
      ${t && !t.components && html`<p class="hint">This template's content is not synced yet; it is sent without parameters. Sync templates to see its variables.</p>`}
      ${mediaHeader &&
      html`<${Input} form=${form} label=${`Header ${mediaHeader}`} type="file" name="header_media" field=${`template.components.0.parameters.0.${mediaHeader}`} onChange=${pickHeaderFile} />`}
      ${headerVars.map(
        (v, i) => html`<${Input}
          form=${form}
          key=${`h${v}`}
          label=${`Header {{${v}}}`}
          name=${`header_param.${i}`}
          field=${`template.components.0.parameters.${i}.text`}
          data-testid="template-header-param"
          value=${headerValues[v] || ""}
          onInput=${(e) => setHeaderValues({ ...headerValues, [v]: e.currentTarget.value })}
        />`,
      )}
      ${bodyVars.map(
        (v, i) => html`<${Input}
          form=${form}
          key=${`b${v}`}
          label=${`Body {{${v}}}`}
          name=${`template_param.${i}`}
          field=${`template.components.${bodyIndex}.parameters.${i}.text`}
          data-testid="template-param"
          value=${bodyValues[v] || ""}
          onInput=${(e) => setBodyValues({ ...bodyValues, [v]: e.currentTarget.value })}
        />`,
      )}
      ${urlButtons.map(
        ({ b, i }) => html`<${Input}
          form=${form}
          key=${`u${i}`}
          label=${`Link of “${b.text}”: ${b.url}`}
          name=${`url_param.${i}`}
          data-testid="template-url-param"
          value=${urlValues[i] || ""}
          onInput=${(e) => setUrlValues({ ...urlValues, [i]: e.currentTarget.value })}
        />`,
      )}
      ${parts && html`<${TemplatePreview} parts=${parts} headerValues=${headerValues} bodyValues=${bodyValues} testid="template-preview" />`}
      <button type="submit" class="btn primary" data-testid="template-send" disabled=${!t || form.busy}>Send template</button>
    </fieldset>
  </form>`;
}

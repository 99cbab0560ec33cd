// conversation.js — one conversation: the thread (polled every 3 s, oldest to
// newest, a bubble per message type, reactions on their target, quoted
// replies, delivery ticks and failures, the image lightbox), marking it read,
// and the contact panel with erasure. MessageBody also draws rule replies.
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { html } from "./html.js";
import { api, seg, usePoll, withQuery } from "./api.js";
import {
  channelLabel,
  clockTime,
  dayLabel,
  displayName,
  formatWhatsApp,
  initials,
  localDateTime,
  messagePreview,
  pretty,
  safeHref,
  windowLabel,
} from "./format.js";
import { ConfirmButton } from "./forms.js";
import { Reply } from "./reply.js";

const DAY = 86400;

export function Conversation({ contactId, pnid, summary, channels }) {
  const [contact, setContact] = useState(summary ? summary.contact : null);
  const [missing, setMissing] = useState(false);
  const [newest, setNewest] = useState(null);
  const [older, setOlder] = useState([]);
  const [cursor, setCursor] = useState(null);
  const [loadingOlder, setLoadingOlder] = useState(false);
  const [locals, setLocals] = useState([]);
  const [error, setError] = useState(null);
  const [failures, setFailures] = useState({});
  const [panelOpen, setPanelOpen] = useState(false);
  const [lightbox, setLightbox] = useState(null);
  const [closedAt, setClosedAt] = useState(undefined);
  const scroller = useRef(null);
  const atBottom = useRef(true);
  const keepFromBottom = useRef(null);
  const lastInbound = useRef(undefined);
  const askedFailure = useRef(new Set());

  const base = `/v1/contacts/${seg(contactId)}`;
  const markRead = () => api.post(`${base}/read`, { phone_number_id: pnid }).catch(() => {});

  useEffect(() => {
    markRead();
  }, []);

  const refresh = usePoll(
    async (alive) => {
      try {
        const [page, c] = await Promise.all([
          api.get(`${base}/messages`, { channel: pnid, limit: 100 }),
          api.get(base).catch((e) => {
            if (e.status === 404) return null;
            throw e;
          }),
        ]);
        if (!alive()) return;
        const data = page.data || [];
        setNewest(data);
        if (!older.length) setCursor(page.next_cursor || null);
        setContact(c || null);
        setMissing(!c);
        setError(null);
        const ids = new Set(data.map((m) => m.id));
        setLocals((ls) => (ls.some((l) => l.serverId && ids.has(l.serverId)) ? ls.filter((l) => !(l.serverId && ids.has(l.serverId))) : ls));
        // New inbound messages while the conversation is open are read at once.
        const inbound = data.find((m) => m.direction === "in");
        const id = inbound ? inbound.id : null;
        if (lastInbound.current !== undefined && id && id !== lastInbound.current) markRead();
        lastInbound.current = id;
      } catch (e) {
        if (alive()) setError(e.message);
      }
    },
    3000,
    [contactId, pnid],
  );

  const seen = new Set();
  const server = [...(newest || []), ...older].filter((m) => !seen.has(m.id) && seen.add(m.id)).reverse();
  const all = [...server, ...locals.filter((l) => !(l.serverId && seen.has(l.serverId)))];

  const byId = new Map();
  const reactions = new Map();
  for (const m of all) {
    byId.set(m.id, m);
    if (m.wamid) byId.set(m.wamid, m);
    if (m.type === "reaction" && m.reaction && m.reaction.message_id) {
      const r = reactions.get(m.reaction.message_id) || {};
      r[m.direction] = m.reaction.emoji || null;
      reactions.set(m.reaction.message_id, r);
    }
  }

  // The window: the inbox's answer when it lists this conversation, else from the last live inbound message.
  const lastIn = [...server].reverse().find((m) => m.direction === "in" && (!m.origin || m.origin === "live") && !m.group_id);
  const lastInId = lastIn ? lastIn.id : null;
  let win =
    summary && summary.window
      ? summary.window
      : lastIn && lastIn.timestamp
        ? { open: lastIn.timestamp + DAY > Date.now() / 1000, closes_at: lastIn.timestamp + DAY }
        : { open: false, closes_at: null };
  // The API said "outside the window" since the last inbound message: trust it.
  if (closedAt !== undefined && closedAt === lastInId) win = { open: false, closes_at: null };
  const optedOut = !!(contact && (contact.opted_out_channels || []).includes(pnid));

  // A failed message whose reason is only in its status history: read it once.
  useEffect(() => {
    for (const m of server) {
      if (m.status !== "failed" || (m.error && m.error.message) || askedFailure.current.has(m.id)) continue;
      askedFailure.current.add(m.id);
      api.get(`/v1/messages/${seg(m.id)}`).then(
        (full) => setFailures((f) => ({ ...f, [m.id]: failureReason(full) })),
        () => {},
      );
    }
  });

  const onScroll = () => {
    const el = scroller.current;
    if (el) atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
  };
  const stickToBottom = () => {
    const el = scroller.current;
    if (el && atBottom.current) el.scrollTop = el.scrollHeight;
  };
  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    if (keepFromBottom.current !== null) {
      el.scrollTop = el.scrollHeight - keepFromBottom.current;
      keepFromBottom.current = null;
    } else stickToBottom();
  }, [all.length, newest === null]);

  const loadOlder = async () => {
    setLoadingOlder(true);
    try {
      const page = await api.get(`${base}/messages`, { channel: pnid, limit: 100, cursor });
      const el = scroller.current;
      keepFromBottom.current = el ? el.scrollHeight - el.scrollTop : null;
      setOlder((o) => [...o, ...(page.data || [])]);
      setCursor(page.next_cursor || null);
    } catch (e) {
      setError(e.message);
    } finally {
      setLoadingOlder(false);
    }
  };

  const name = displayName(contact);
  const rows = [];
  let lastDay = null;
  for (const m of all) {
    if (m.type === "reaction") continue;
    const day = m.timestamp ? new Date(m.timestamp * 1000).toDateString() : lastDay;
    if (day && day !== lastDay) {
      rows.push(html`<div class="day" key=${`day-${day}`}><span>${dayLabel(m.timestamp)}</span></div>`);
      lastDay = day;
    }
    const r = reactions.get(m.wamid) || reactions.get(m.id);
    const ctx = m.context && (m.context.id || m.context.message_id);
    rows.push(
      html`<${Bubble}
        key=${m.id}
        m=${m}
        pnid=${pnid}
        quoted=${ctx ? byId.get(ctx) : null}
        contactName=${name}
        reactions=${r ? Object.values(r).filter(Boolean) : []}
        failure=${(m.error && m.error.message) || failures[m.id] || "Not delivered."}
        onImage=${setLightbox}
        onMediaLoad=${stickToBottom}
      />`,
    );
  }

  return html`
    <section class="thread" aria-label=${`Conversation with ${name}`}>
      <header class="thread-head">
        <a class="btn ghost back" href="#/inbox" aria-label="Back to the inbox">←</a>
        <span class="avatar" aria-hidden="true">${initials(name)}</span>
        <div class="thread-title">
          <h2 data-testid="thread-name">${name}</h2>
          <span class="muted">${channelLabel(channels, pnid)}</span>
        </div>
        <span class=${`window ${win.open ? "open" : "closed"}`} data-testid="thread-window">${windowLabel(win)}</span>
        <button type="button" class="btn small info-btn" aria-expanded=${panelOpen} aria-label="Contact details" onClick=${() => setPanelOpen(!panelOpen)}>Info</button>
      </header>
      ${error && html`<div class="banner error" role="alert">Could not load messages: ${error}</div>`}
      <div class="messages" ref=${scroller} onScroll=${onScroll} aria-live="polite">
        ${cursor &&
        html`<div class="older"><button type="button" class="btn small" onClick=${loadOlder} disabled=${loadingOlder}>${loadingOlder ? "Loading…" : "Load older messages"}</button></div>`}
        ${newest === null && !error && html`<p class="empty">Loading messages…</p>`}
        ${newest !== null && !all.length && html`<p class="empty">No messages in this conversation on this number.</p>`}
        ${rows}
      </div>
      <${Reply}
        contactId=${contactId}
        pnid=${pnid}
        open=${win.open}
        optedOut=${optedOut}
        onQueued=${(local) => {
          atBottom.current = true;
          setLocals((ls) => [...ls, local]);
        }}
        onSent=${(localId, res) => {
          setLocals((ls) => ls.map((l) => (l.id === localId ? { ...l, serverId: res.id, status: res.status || l.status } : l)));
          refresh();
        }}
        onFailed=${(localId) => setLocals((ls) => ls.filter((l) => l.id !== localId))}
        onWindowClosed=${() => setClosedAt(lastInId)}
      />
    </section>
    <${ContactPanel}
      contact=${contact}
      missing=${missing}
      contactId=${contactId}
      pnid=${pnid}
      channels=${channels}
      open=${panelOpen}
      onClose=${() => setPanelOpen(false)}
    />
    ${lightbox && html`<${Lightbox} ...${lightbox} onClose=${() => setLightbox(null)} />`}
  `;
}

function failureReason(full) {
  if (full.error && full.error.message) return full.error.message;
  const failed = [...(full.statuses || [])].reverse().find((s) => s.status === "failed");
  const e = failed && Array.isArray(failed.errors) ? failed.errors[0] : null;
  if (!e) return "Not delivered.";
  const text = (e.error_data && e.error_data.details) || e.message || e.title || "Not delivered.";
  return e.code ? `${text} (${e.code})` : text;
}

const TICKS = {
  queued: ["⏱", "Queued"],
  accepted: ["✓", "Accepted by WhatsApp"],
  unknown: ["⏱", "Sent; WhatsApp's answer was lost"],
  sent: ["✓", "Sent"],
  delivered: ["✓✓", "Delivered"],
  read: ["✓✓", "Read"],
  played: ["✓✓", "Played"],
  failed: ["⚠", "Failed"],
  deleted: ["⊘", "Deleted"],
};

function Ticks({ status }) {
  const t = TICKS[status];
  if (!t) return null;
  return html`<span class=${`ticks ${status}${status === "read" || status === "played" ? " read" : ""}`} data-testid="ticks" title=${t[1]} aria-label=${t[1]}>${t[0]}</span>`;
}

function Bubble({ m, pnid, quoted, contactName, reactions, failure, onImage, onMediaLoad }) {
  const out = m.direction === "out";
  const jump = () => {
    const el = quoted && document.querySelector(`[data-testid="message"][data-id="${CSS.escape(quoted.serverId || quoted.id)}"]`);
    if (el) {
      el.scrollIntoView({ block: "center", behavior: "smooth" });
      el.classList.add("flash");
      setTimeout(() => el.classList.remove("flash"), 1200);
    }
  };
  return html`<div
    class=${`msg ${out ? "out" : "in"}${m.type === "system" ? " system" : ""}${m._local ? " pending" : ""}`}
    data-testid="message"
    data-direction=${m.direction}
    data-type=${m.type || "unknown"}
    data-status=${m.status || undefined}
    data-id=${m.serverId || m.id}
  >
    <div class="bubble">
      ${m.origin === "echo" && html`<div class="tag">Sent from the WhatsApp Business app</div>`}
      ${m.referral && html`<div class="referral">From an ad${m.referral.headline ? `: ${m.referral.headline}` : ""}</div>`}
      ${quoted &&
      html`<button type="button" class="quote" data-testid="quote" onClick=${jump}>
        <strong>${quoted.direction === "out" ? "You" : contactName}</strong>
        <span>${messagePreview(quoted)}</span>
      </button>`}
      <${MessageBody} m=${m} pnid=${pnid} onImage=${onImage} onMediaLoad=${onMediaLoad} />
      <div class="meta">
        <time title=${localDateTime(m.timestamp)}>${clockTime(m.timestamp)}</time>
        ${out && html`<${Ticks} status=${m.status} />`}
      </div>
    </div>
    ${reactions.length > 0 &&
    html`<div class="reactions">${reactions.map((e, i) => html`<span class="reaction" data-testid="reaction" key=${i}>${e}</span>`)}</div>`}
    ${out && m.status === "failed" && html`<div class="msg-error" data-testid="message-error">${failure}</div>`}
  </div>`;
}

function mediaSrc(m, c, pnid) {
  if (m._localUrl) return m._localUrl;
  if (c.id) return withQuery(`/v1/media/${seg(c.id)}`, { channel: pnid || m.phone_number_id });
  return null;
}

const Caption = ({ text }) => (text ? html`<div class="text caption">${formatWhatsApp(text)}</div>` : null);

/** The content of a message, or of a Graph message object (a rule's reply), by its type. */
export function MessageBody({ m, pnid, onImage, onMediaLoad }) {
  const t = m.type;
  const c = (t && m[t]) || {};
  const src = mediaSrc(m, c, pnid);
  switch (t) {
    case "text":
      return html`<div class="text">${formatWhatsApp(c.body)}</div>`;
    case "image":
    case "sticker": {
      const alt = c.caption || (t === "sticker" ? "Sticker" : "Image");
      if (!src)
        return c.link
          ? html`<a href=${safeHref(c.link)} target="_blank" rel="noopener noreferrer">Open ${t} ↗</a><${Caption} text=${c.caption} />`
          : html`<div class="muted">${t === "sticker" ? "Sticker" : "Image"} not available</div>`;
      return html`<button type="button" class=${`media-btn${t === "sticker" ? " sticker" : ""}`} aria-label=${`View ${alt} full size`} onClick=${() => onImage && onImage({ src, alt })}>
          <img data-testid="media-image" src=${src} alt=${alt} onLoad=${onMediaLoad} />
        </button>
        <${Caption} text=${c.caption} />`;
    }
    case "audio":
      return src
        ? html`<audio controls preload="metadata" src=${src} data-testid="media-audio" onLoadedMetadata=${onMediaLoad}>Audio</audio>`
        : html`<a href=${safeHref(c.link)} target="_blank" rel="noopener noreferrer">Open audio ↗</a>`;
    case "video":
      return html`${src
          ? html`<video controls preload="metadata" src=${src} data-testid="media-video" onLoadedMetadata=${onMediaLoad}>Video</video>`
          : html`<a href=${safeHref(c.link)} target="_blank" rel="noopener noreferrer">Open video ↗</a>`}
        <${Caption} text=${c.caption} />`;
    case "document": {
      const fname = c.filename || "Document";
      return html`<a class="doc" data-testid="media-document" href=${src || safeHref(c.link)} download=${src ? fname : undefined} target="_blank" rel="noopener noreferrer">
          <span class="doc-icon" aria-hidden="true">📄</span>
          <span class="doc-name">${fname}</span>
          ${c.mime_type && html`<span class="doc-type">${c.mime_type}</span>`}
        </a>
        <${Caption} text=${c.caption} />`;
    }
    case "location": {
      const osm = `https://www.openstreetmap.org/?mlat=${c.latitude}&mlon=${c.longitude}`;
      return html`<div class="location" data-testid="location">
        <span class="loc-pin" aria-hidden="true">📍</span>
        <div>
          ${c.name && html`<strong>${c.name}</strong>`}
          ${c.address && html`<div>${c.address}</div>`}
          <div class="muted">${c.latitude}, ${c.longitude}</div>
          <a href=${osm} target="_blank" rel="noopener noreferrer" data-testid="location-link">Open in OpenStreetMap</a>
        </div>
      </div>`;
    }
    case "contacts":
      return html`<div class="vcards">${(Array.isArray(c) ? c : []).map((ct, i) => html`<${SharedContact} key=${i} ct=${ct} />`)}</div>`;
    case "interactive":
      return html`<${Interactive} c=${c} />`;
    case "button":
      return html`<div class="reply-chip" data-testid="button-reply"><span class="muted">Tapped</span> ${c.text || c.payload}</div>`;
    case "template": {
      const params = (c.components || []).flatMap((x) => (x.parameters || []).map((p) => p.text || p.payload || "")).filter(Boolean);
      return html`<div class="template-msg" data-testid="template-message">
        <strong>Template: ${c.name}</strong>
        ${c.language && c.language.code && html` <span class="muted">(${c.language.code})</span>`}
        ${params.length > 0 && html`<div class="muted">${params.join(" · ")}</div>`}
      </div>`;
    }
    case "order": {
      const items = c.product_items || [];
      return html`<div class="order">
        <strong>🛒 Order · ${items.length} item${items.length === 1 ? "" : "s"}</strong>
        <ul>${items.map((p, i) => html`<li key=${i}>${p.quantity} × ${p.product_retailer_id}${p.item_price !== undefined ? ` · ${p.item_price} ${p.currency || ""}` : ""}</li>`)}</ul>
        <${Caption} text=${c.text} />
      </div>`;
    }
    case "system":
      return html`<div class="system-text">${c.body || "System notice"}</div>`;
    case "reaction":
      return html`<div class="text">${c.emoji ? `Reaction ${c.emoji}` : "Reaction removed"}</div>`;
    default:
      return html`<${Unsupported} m=${m} />`;
  }
}

function SharedContact({ ct }) {
  const n = ct.name || {};
  const name = n.formatted_name || [n.first_name, n.last_name].filter(Boolean).join(" ") || "Contact";
  return html`<div class="vcard" data-testid="shared-contact">
    <strong>👤 ${name}</strong>
    ${ct.org && ct.org.company && html`<div class="muted">${ct.org.company}</div>`}
    ${(ct.phones || []).map((p, i) => html`<div key=${`p${i}`}>📞 ${p.phone || p.wa_id}${p.type ? html` <span class="muted">(${String(p.type).toLowerCase()})</span>` : ""}</div>`)}
    ${(ct.emails || []).map((e, i) => html`<div key=${`e${i}`}>✉ ${e.email}</div>`)}
  </div>`;
}

function Interactive({ c }) {
  if (c.button_reply)
    return html`<div class="reply-chip" data-testid="interactive-reply"><span class="muted">Tapped</span> ${c.button_reply.title}</div>`;
  if (c.list_reply)
    return html`<div class="reply-chip" data-testid="interactive-reply">
      <span class="muted">Chose</span> ${c.list_reply.title}
      ${c.list_reply.description && html`<div class="muted">${c.list_reply.description}</div>`}
    </div>`;
  if (c.nfm_reply)
    return html`<div class="reply-chip" data-testid="interactive-reply">
      <span class="muted">Form response</span>
      ${c.nfm_reply.body && html`<div>${c.nfm_reply.body}</div>`}
      ${c.nfm_reply.response_json && html`<pre class="raw">${pretty(c.nfm_reply.response_json)}</pre>`}
    </div>`;
  const action = c.action || {};
  const header = c.header && c.header.type === "text" ? c.header.text : null;
  return html`<div class="interactive">
    ${header && html`<div class="tpl-header">${formatWhatsApp(header)}</div>`}
    ${c.body && c.body.text && html`<div class="text">${formatWhatsApp(c.body.text)}</div>`}
    ${c.footer && c.footer.text && html`<div class="tpl-footer">${c.footer.text}</div>`}
    ${c.type === "button" &&
    html`<div class="chips">${(action.buttons || []).map((b, i) => html`<span class="chip" key=${i}>↩ ${b.reply && b.reply.title}</span>`)}</div>`}
    ${c.type === "list" &&
    html`<div class="chips"><span class="chip">☰ ${action.button}</span></div>
      <ul class="list-rows">
        ${(action.sections || []).flatMap((s, si) =>
          (s.rows || []).map(
            (r, ri) => html`<li key=${`${si}-${ri}`}><strong>${r.title}</strong>${r.description && html` <span class="muted">${r.description}</span>`}</li>`,
          ),
        )}
      </ul>`}
    ${c.type === "cta_url" &&
    action.parameters &&
    html`<div class="chips"><a class="chip" href=${safeHref(action.parameters.url)} target="_blank" rel="noopener noreferrer">↗ ${action.parameters.display_text}</a></div>`}
    ${!["button", "list", "cta_url"].includes(c.type) && html`<div class="muted">Interactive message (${c.type || "unknown"})</div>`}
  </div>`;
}

function Unsupported({ m }) {
  const [open, setOpen] = useState(false);
  const [raw, setRaw] = useState(null);
  const [err, setErr] = useState(null);
  const type = (m.unsupported && m.unsupported.type) || m.type || "unknown";
  const stored = m.id && !m._local;
  const toggle = async () => {
    if (open) return setOpen(false);
    setOpen(true);
    if (!stored || raw) return undefined;
    try {
      setErr(null);
      setRaw(await api.get(`/v1/messages/${seg(m.id)}`));
    } catch (e) {
      setErr(e.message);
    }
    return undefined;
  };
  const shown = stored ? raw : m;
  return html`<div class="unsupported" data-testid="unsupported">
    <div>Unsupported message (${type})</div>
    <button type="button" class="link-btn" data-testid="show-raw" aria-expanded=${open} onClick=${toggle}>${open ? "Show less" : "Show more"}</button>
    ${open &&
    (err
      ? html`<div class="field-error" role="alert">${err}</div>`
      : shown
        ? html`<pre class="raw" data-testid="raw-json">${pretty(shown)}</pre>`
        : html`<div class="muted">Loading…</div>`)}
  </div>`;
}

function Lightbox({ src, alt, onClose }) {
  const close = useRef(null);
  // Before paint, so Escape works from the moment the dialog is seen.
  useLayoutEffect(() => {
    const f = (e) => e.key === "Escape" && onClose();
    addEventListener("keydown", f);
    if (close.current) close.current.focus();
    return () => removeEventListener("keydown", f);
  }, []);
  return html`<div class="lightbox" data-testid="lightbox" role="dialog" aria-modal="true" aria-label=${alt} onClick=${(e) => e.target === e.currentTarget && onClose()}>
    <button type="button" ref=${close} class="lightbox-close" aria-label="Close" data-testid="lightbox-close" onClick=${onClose}>✕</button>
    <img src=${src} alt=${alt} />
    <a class="lightbox-open" href=${src} target="_blank" rel="noopener noreferrer">Open original</a>
  </div>`;
}

function ContactPanel({ contact, missing, contactId, pnid, channels, open, onClose }) {
  const [err, setErr] = useState(null);
  const c = contact || {};
  const opted = c.opted_out_channels || [];
  const optedText = opted.includes(pnid)
    ? "Yes, from this channel"
    : opted.length
      ? `From ${opted.map((p) => channelLabel(channels, p)).join(", ")}`
      : "No";
  const facts = [
    ["Profile name", c.profile_name, "contact-profile-name"],
    ["Saved name", c.saved_name, "contact-saved-name"],
    ["Username", c.username, "contact-username"],
    ["Phone", c.phone, "contact-phone"],
    ["BSUID", c.user_id, "contact-bsuid"],
    ["Parent BSUID", c.parent_user_id, "contact-parent-bsuid"],
    ["Channel", `${channelLabel(channels, pnid)}${channelLabel(channels, pnid) !== pnid ? ` (${pnid})` : ""}`, "contact-channel"],
    ["First seen", localDateTime(c.first_seen), "contact-first-seen"],
    ["Last seen", localDateTime(c.last_seen), "contact-last-seen"],
    ["Opted out", optedText, "contact-opted-out"],
    ["Contact id", c.id || contactId, "contact-id"],
  ];
  const erase = async () => {
    setErr(null);
    try {
      await api.del(`/v1/contacts/${seg(contactId)}`);
      location.hash = "#/inbox";
    } catch (e) {
      setErr(e.message);
    }
  };
  return html`<aside class=${`contact-panel${open ? " open" : ""}`} data-testid="contact-panel" aria-label="Contact details">
    <div class="panel-head">
      <span class="avatar big" aria-hidden="true">${initials(displayName(contact))}</span>
      <h2>${displayName(contact)}</h2>
      <button type="button" class="btn ghost panel-close" aria-label="Close contact details" onClick=${onClose}>✕</button>
    </div>
    ${missing && html`<div class="banner" role="status">No contact is stored under this id any more.</div>`}
    <dl class="facts">
      ${facts.map(
        ([label, value, testid]) =>
          html`<div class="fact" key=${testid}><dt>${label}</dt><dd data-testid=${testid} class=${value ? undefined : "muted"}>${value || "—"}</dd></div>`,
      )}
    </dl>
    <div class="danger-zone">
      <h3>Erase contact</h3>
      <p class="hint">Removes their messages, media, events, windows and opt-out state everywhere (GDPR Art. 17).</p>
      <${ConfirmButton}
        label="Erase contact"
        class="danger-outline"
        testid="erase"
        confirmTestid="erase-confirm"
        question=${`Erase ${displayName(contact)} and everything stored about them? This cannot be undone.`}
        confirmLabel="Erase everything"
        onConfirm=${erase}
      />
      ${err && html`<div class="banner error" role="alert">${err}</div>`}
    </div>
  </aside>`;
}

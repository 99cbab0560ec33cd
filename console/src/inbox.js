// inbox.js — the inbox screen: conversations by last activity (polled every
// 3 s while the tab is visible), search, channel and unread filters, and the
// layout that puts the open conversation beside the list (or in its place on a
// phone).
import { useEffect, useState } from "preact/hooks";
import { html } from "./html.js";
import { api, useChannels, usePoll } from "./api.js";
import { channelLabel, channelOptions, displayName, initials, localDateTime, messagePreview, relativeTime, windowLabel } from "./format.js";
import { Checkbox, Input, Select, useDebounced } from "./forms.js";
import { Conversation } from "./conversation.js";

// The filters outlive the screen, so coming back to the inbox keeps them.
const saved = { q: "", channel: "", unread: false };

export function Inbox({ contactId, pnid }) {
  const channels = useChannels();
  const [qInput, setQInput] = useState(saved.q);
  const q = useDebounced(qInput.trim(), 300);
  const [channel, setChannel] = useState(saved.channel);
  const [unread, setUnread] = useState(saved.unread);
  const [first, setFirst] = useState(null);
  const [more, setMore] = useState([]);
  const [cursor, setCursor] = useState(null);
  const [error, setError] = useState(null);
  const [loadingMore, setLoadingMore] = useState(false);

  Object.assign(saved, { q: qInput, channel, unread });
  const filters = { q, channel, unread: unread ? "true" : "", limit: 50 };

  useEffect(() => {
    setFirst(null);
    setMore([]);
    setCursor(null);
  }, [q, channel, unread]);

  usePoll(
    async (alive) => {
      try {
        const r = await api.get("/v1/conversations", filters);
        if (!alive()) return;
        setFirst(r.data || []);
        setError(null);
        if (!more.length) setCursor(r.next_cursor || null);
      } catch (e) {
        if (alive()) setError(e.message);
      }
    },
    3000,
    [q, channel, unread],
  );

  const loadMore = async () => {
    setLoadingMore(true);
    try {
      const r = await api.get("/v1/conversations", { ...filters, cursor });
      setMore((m) => [...m, ...(r.data || [])]);
      setCursor(r.next_cursor || null);
    } catch (e) {
      setError(e.message);
    } finally {
      setLoadingMore(false);
    }
  };

  const seen = new Set();
  const items = [...(first || []), ...more]
    .filter((c) => !seen.has(c.id) && seen.add(c.id))
    .sort((a, b) => (b.last_activity_at || 0) - (a.last_activity_at || 0));
  const selectedId = contactId && pnid ? `${contactId}/${pnid}` : null;
  const selected = selectedId && items.find((c) => c.id === selectedId);

  return html`<div class=${`inbox${selectedId ? " has-thread" : ""}`}>
    <section class="inbox-list" aria-label="Conversations">
      <div class="inbox-filters">
        <${Input}
          label="Search conversations"
          labelHidden
          type="search"
          name="q"
          placeholder="Search name, number or text"
          data-testid="search"
          value=${qInput}
          onInput=${(e) => setQInput(e.currentTarget.value)}
        />
        <div class="filter-row">
          <${Select}
            label="Channel"
            labelHidden
            name="channel"
            data-testid="channel-filter"
            value=${channel}
            onChange=${(e) => setChannel(e.currentTarget.value)}
            options=${channelOptions(channels, ["", "All channels"])}
          />
          <${Checkbox} label="Unread only" name="unread" data-testid="unread-filter" checked=${unread} onChange=${(e) => setUnread(e.currentTarget.checked)} />
        </div>
      </div>
      ${error && html`<div class="banner error" role="alert">Could not load conversations: ${error}</div>`}
      <div class="conv-list">
        ${first === null && !error && html`<p class="empty">Loading conversations…</p>`}
        ${first !== null &&
        !items.length &&
        html`<p class="empty">${q || channel || unread ? "No conversation matches these filters." : "No conversations yet. Messages sent to your numbers appear here."}</p>`}
        ${items.map((c) => html`<${ConversationRow} key=${c.id} c=${c} channels=${channels} active=${c.id === selectedId} />`)}
        ${cursor &&
        html`<button type="button" class="btn wide" onClick=${loadMore} disabled=${loadingMore}>${loadingMore ? "Loading…" : "Load more"}</button>`}
      </div>
    </section>
    ${selectedId
      ? html`<${Conversation} key=${selectedId} contactId=${contactId} pnid=${pnid} summary=${selected} channels=${channels} />`
      : html`<section class="thread-empty" aria-label="No conversation open">
          <div>
            <div class="thread-empty-icon" aria-hidden="true">💬</div>
            <p>Choose a conversation to read and reply.</p>
          </div>
        </section>`}
  </div>`;
}

function ConversationRow({ c, channels, active }) {
  const name = displayName(c.contact);
  const m = c.last_message;
  const preview = m ? (m.preview ?? messagePreview({ type: m.type })) : "";
  // The open conversation is being read, so it shows no unread count.
  const unread = active ? 0 : c.unread;
  const href = `#/inbox/${encodeURIComponent(c.contact.id)}/${encodeURIComponent(c.phone_number_id)}`;
  return html`<a
    href=${href}
    class=${`conv${active ? " active" : ""}${unread > 0 ? " is-unread" : ""}`}
    data-testid="conversation"
    data-id=${c.id}
    aria-current=${active ? "true" : undefined}
  >
    <span class="avatar" aria-hidden="true">${initials(name)}</span>
    <span class="conv-main">
      <span class="conv-top">
        <span class="conv-name" data-testid="conversation-name">${name}</span>
        <time class="conv-time" title=${localDateTime(c.last_activity_at)}>${relativeTime(c.last_activity_at)}</time>
      </span>
      <span class="conv-channel" data-testid="conversation-channel">${c.channel_name || channelLabel(channels, c.phone_number_id)}</span>
      <span class="conv-bottom">
        <span class="conv-preview" data-testid="conversation-preview">${m && m.direction === "out" ? "You: " : ""}${preview}</span>
        ${unread > 0 && html`<span class="badge unread" data-testid="unread" aria-label=${`${unread} unread`}>${unread}</span>`}
      </span>
      <span class=${`window ${c.window && c.window.open ? "open" : "closed"}`} data-testid="window">${windowLabel(c.window)}</span>
    </span>
  </a>`;
}

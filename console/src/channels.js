// channels.js — the channels screens: the list (and adding a channel), and one
// channel's page: its settings (PATCH), the webhook URL to give Meta or
// 360dialog, the app's subscription to the WABA, registration with the
// two-step PIN, the WABA's numbers, the business profile, and removal.
import { useEffect, useState } from "preact/hooks";
import { html } from "./html.js";
import { api, loadChannels, seg } from "./api.js";
import { localFromMs } from "./format.js";
import { Checkbox, ConfirmButton, FormMessages, Input, Select, TextArea, useForm } from "./forms.js";

const TIERS = [
  ["250", "250 a day"],
  ["1k", "1,000 a day"],
  ["2k", "2,000 a day"],
  ["10k", "10,000 a day"],
  ["100k", "100,000 a day"],
  ["unlimited", "Unlimited"],
];
const PROVIDERS = [
  ["meta", "Meta (Cloud API)"],
  ["360dialog", "360dialog"],
];
const VERTICALS = [
  "UNDEFINED", "OTHER", "AUTO", "BEAUTY", "APPAREL", "EDU", "ENTERTAIN", "EVENT_PLAN", "FINANCE", "GROCERY", "GOVT",
  "HOTEL", "HEALTH", "NONPROFIT", "PROF_SERVICES", "RETAIL", "TRAVEL", "RESTAURANT", "NOT_A_BIZ",
];
const PROFILE_LIMITS = { about: 139, address: 256, description: 512, email: 128 };

const optional = (s) => (String(s ?? "").trim() === "" ? null : String(s).trim());
const recipients = (v) => v.test_recipients.map((s) => s.trim()).filter(Boolean);

function channelValues(ch) {
  return {
    phone_number_id: (ch && ch.phone_number_id) || "",
    name: (ch && ch.name) || "",
    waba_id: (ch && ch.waba_id) || "",
    display_phone_number: (ch && ch.display_phone_number) || "",
    provider: (ch && ch.provider) || "meta",
    credential_secret: (ch && ch.credential_secret) || "",
    webhook_auth_secret: (ch && ch.webhook_auth_secret) || "",
    tier: (ch && ch.tier) || "250",
    test_number: !!(ch && ch.test_number),
    test_recipients: (ch && ch.test_recipients) || [],
  };
}

export function ChannelList() {
  const [channels, setChannels] = useState(null);
  const [error, setError] = useState(null);
  const [adding, setAdding] = useState(false);

  useEffect(() => {
    loadChannels(true).then(setChannels, (e) => setError(e.message));
  }, []);

  return html`<div class="page">
    <div class="page-head">
      <h1>Channels</h1>
      <button type="button" class="btn primary" data-testid="channel-add" aria-expanded=${adding} onClick=${() => setAdding(!adding)}>
        ${adding ? "Close" : "Add channel"}
      </button>
    </div>
    ${adding && html`<${AddChannel} />`}
    ${error && html`<div class="banner error" role="alert">Could not load channels: ${error}</div>`}
    ${channels === null && !error && html`<p class="empty">Loading channels…</p>`}
    ${channels && !channels.length && html`<p class="empty">No channel rows yet: the number in WHATSAPP_PHONE_NUMBER_ID is the only channel.</p>`}
    <div class="rows">
      ${(channels || []).map(
        (c) => html`<a class="row channel-row" key=${c.phone_number_id} href=${`#/channels/${seg(c.phone_number_id)}`} data-testid="channel-row">
          <span class="row-main">
            <strong>${c.name || c.display_phone_number || c.phone_number_id}</strong>
            <span class="muted">${c.display_phone_number ? `+${String(c.display_phone_number).replace(/^\+/, "")} · ` : ""}${c.phone_number_id}</span>
          </span>
          <span class="badges">
            <span class="badge">${c.provider === "360dialog" ? "360dialog" : "Meta"}</span>
            <span class="badge">tier ${c.tier}</span>
            ${c.test_number && html`<span class="badge warn">test number</span>`}
            ${c.source === "environment" && html`<span class="badge">environment</span>`}
          </span>
        </a>`,
      )}
    </div>
  </div>`;
}

function ChannelFields({ form, v, set, creating, locked }) {
  const recips = [...v.test_recipients];
  if (recips.length < 5 && (recips.length === 0 || recips[recips.length - 1].trim())) recips.push("");
  const bind = (k) => ({ value: v[k], onInput: (e) => set(k, e.currentTarget.value) });
  return html`<fieldset disabled=${locked} class="grid-2">
    ${creating && html`<${Input} form=${form} label="Phone number id" name="phone_number_id" inputmode="numeric" hint="The number's id in Meta's WhatsApp Manager (digits)." ...${bind("phone_number_id")} />`}
    <${Input} form=${form} label="Name" name="name" ...${bind("name")} />
    <${Input} form=${form} label="WhatsApp Business Account id" name="waba_id" inputmode="numeric" ...${bind("waba_id")} />
    <${Input} form=${form} label="Display phone number" name="display_phone_number" ...${bind("display_phone_number")} />
    <${Select} form=${form} label="Provider" name="provider" options=${PROVIDERS} value=${v.provider} onChange=${(e) => set("provider", e.currentTarget.value)} />
    <${Input}
      form=${form}
      label="Credential secret name"
      name="credential_secret"
      hint="The name of the Workers secret holding the access token (or 360dialog API key) — never the token itself."
      ...${bind("credential_secret")}
    />
    ${v.provider === "360dialog" &&
    html`<${Input}
      form=${form}
      label="Webhook auth secret name"
      name="webhook_auth_secret"
      hint="The Workers secret holding the user:pass 360dialog sends in its Authorization header."
      ...${bind("webhook_auth_secret")}
    />`}
    <${Select} form=${form} label="Messaging tier" name="tier" options=${TIERS} value=${v.tier} onChange=${(e) => set("tier", e.currentTarget.value)} />
    <${Checkbox}
      form=${form}
      label="Test number (sends only to its test recipients)"
      name="test_number"
      checked=${v.test_number}
      onChange=${(e) => set("test_number", e.currentTarget.checked)}
    />
    ${v.test_number &&
    html`<div class="subfields span-2">
      <p class="hint">Allowed recipients (up to 5 phone numbers):</p>
      ${recips.map(
        (r, i) => html`<${Input}
          form=${form}
          key=${i}
          label=${`Test recipient ${i + 1}`}
          name=${`test_recipients.${i}`}
          value=${r}
          onInput=${(e) => {
            const next = [...recips];
            next[i] = e.currentTarget.value;
            set("test_recipients", next);
          }}
        />`,
      )}
    </div>`}
  </fieldset>`;
}

function AddChannel() {
  const form = useForm();
  const [v, setV] = useState(channelValues(null));
  const set = (k, val) => setV({ ...v, [k]: val });
  const submit = (e) => {
    e.preventDefault();
    form.run(async () => {
      const body = {
        phone_number_id: v.phone_number_id.trim(),
        provider: v.provider,
        credential_secret: v.credential_secret.trim(),
        tier: v.tier,
        test_number: v.test_number,
        test_recipients: v.test_number ? recipients(v) : [],
      };
      for (const k of ["name", "waba_id", "display_phone_number"]) if (optional(v[k])) body[k] = optional(v[k]);
      if (v.provider === "360dialog") body.webhook_auth_secret = optional(v.webhook_auth_secret);
      const ch = await api.post("/v1/channels", body);
      await loadChannels(true).catch(() => {});
      location.hash = `#/channels/${seg(ch.phone_number_id)}`;
    });
  };
  return html`<form class="card" ref=${form.ref} novalidate onSubmit=${submit}>
    <h2>Add a channel</h2>
    <${FormMessages} form=${form} />
    <${ChannelFields} form=${form} v=${v} set=${set} creating />
    <div class="actions"><button type="submit" class="btn primary" data-testid="channel-create" disabled=${form.busy}>Add channel</button></div>
  </form>`;
}

export function ChannelDetail({ id }) {
  const [channel, setChannel] = useState(null);
  const [error, setError] = useState(null);

  useEffect(() => {
    api.get(`/v1/channels/${seg(id)}`).then(setChannel, (e) => setError(e.status === 404 ? "There is no channel with this id." : e.message));
  }, [id]);

  if (error)
    return html`<div class="page"><a href="#/channels" class="back-link">← Channels</a><div class="banner error" role="alert">${error}</div></div>`;
  if (!channel) return html`<div class="page"><p class="empty">Loading channel…</p></div>`;
  const meta = channel.provider !== "360dialog";
  return html`<div class="page">
    <a href="#/channels" class="back-link">← Channels</a>
    <div class="page-head">
      <h1>${channel.name || channel.display_phone_number || channel.phone_number_id}</h1>
      <span class="muted">${channel.phone_number_id}</span>
    </div>
    <${ChannelSettings} channel=${channel} onSaved=${setChannel} />
    <${Webhook} channel=${channel} />
    ${meta
      ? html`<${Subscription} channel=${channel} /><${Register} channel=${channel} /><${PhoneNumbers} channel=${channel} />`
      : html`<section class="card"><h2>Onboarding</h2><p class="hint">Subscription, registration and the WABA's numbers are managed in 360dialog's hub for 360dialog channels.</p></section>`}
    <${BusinessProfile} channel=${channel} />
    ${channel.source !== "environment" && html`<${RemoveChannel} channel=${channel} />`}
  </div>`;
}

function ChannelSettings({ channel, onSaved }) {
  const form = useForm();
  const [v, setV] = useState(channelValues(channel));
  const set = (k, val) => setV({ ...v, [k]: val });
  const env = channel.source === "environment";

  const submit = (e) => {
    e.preventDefault();
    const patch = {};
    for (const k of ["name", "waba_id", "display_phone_number"]) if (optional(v[k]) !== (channel[k] ?? null)) patch[k] = optional(v[k]);
    if (v.credential_secret.trim() !== channel.credential_secret) patch.credential_secret = v.credential_secret.trim();
    if (v.tier !== channel.tier) patch.tier = v.tier;
    if (v.test_number !== channel.test_number) patch.test_number = v.test_number;
    const r = recipients(v);
    if (JSON.stringify(r) !== JSON.stringify(channel.test_recipients || [])) patch.test_recipients = r;
    // The provider and its webhook secret change together (a Meta channel has none).
    const secret = v.provider === "360dialog" ? optional(v.webhook_auth_secret) : null;
    if (v.provider !== channel.provider || secret !== (channel.webhook_auth_secret ?? null)) {
      patch.provider = v.provider;
      patch.webhook_auth_secret = secret;
    }
    if (!Object.keys(patch).length) {
      form.setNotice("Nothing changed.");
      return;
    }
    form.run(async () => {
      const saved = await api.patch(`/v1/channels/${seg(channel.phone_number_id)}`, patch);
      onSaved(saved);
      setV(channelValues(saved));
      loadChannels(true).catch(() => {});
      form.setNotice("Channel saved.");
    });
  };

  return html`<form class="card" ref=${form.ref} novalidate onSubmit=${submit}>
    <h2>Settings</h2>
    ${env && html`<p class="hint">This is the environment's default channel (WHATSAPP_PHONE_NUMBER_ID): change it in wrangler.toml and the Workers secrets.</p>`}
    <${FormMessages} form=${form} />
    <${ChannelFields} form=${form} v=${v} set=${set} locked=${env} />
    ${!env && html`<div class="actions"><button type="submit" class="btn primary" data-testid="channel-save" disabled=${form.busy}>Save</button></div>`}
  </form>`;
}

function Webhook({ channel }) {
  const form = useForm();
  const [copied, setCopied] = useState(false);
  const url = new URL(channel.webhook_url || "/webhook", location.origin).href;
  const d360 = channel.provider === "360dialog";

  const copy = async (e) => {
    const input = e.currentTarget.parentElement.querySelector("input");
    try {
      await navigator.clipboard.writeText(url);
    } catch {
      input.select();
      document.execCommand("copy");
    }
    setCopied(true);
    setTimeout(() => setCopied(false), 2000);
  };

  const register = () =>
    form.run(async () => {
      const r = await api.post(`/v1/channels/${seg(channel.phone_number_id)}/webhook`, { url });
      form.setNotice(`Registered ${r.url} with 360dialog.`);
    });

  return html`<section class="card" ref=${form.ref}>
    <h2>Webhook</h2>
    <${FormMessages} form=${form} />
    <div class="copy-row">
      <${Input} label="Webhook URL" name="url" readonly value=${url} data-testid="webhook-url" onFocus=${(e) => e.currentTarget.select()} />
      <button type="button" class="btn" data-testid="copy-webhook" onClick=${copy}>${copied ? "Copied ✓" : "Copy"}</button>
    </div>
    ${d360
      ? html`<p class="hint">360dialog sends this number's webhooks to its own URL, with the Authorization header kept in the channel's webhook auth secret. Register it with 360dialog:</p>
          <button type="button" class="btn" data-testid="register-webhook" onClick=${register} disabled=${form.busy}>Register with 360dialog</button>`
      : html`<p class="hint">
          In Meta's App Dashboard → WhatsApp → Configuration, set the Callback URL to this address and the Verify token to your
          WHATSAPP_VERIFY_TOKEN secret, then subscribe to the <code>messages</code> field. Every number of the app uses this one URL.
        </p>`}
  </section>`;
}

function Subscription({ channel }) {
  const form = useForm();
  const [state, setState] = useState(null);
  const path = `/v1/channels/${seg(channel.phone_number_id)}/subscription`;
  const check = () =>
    form.run(async () => {
      setState(await api.get(path));
    });
  const subscribe = () =>
    form.run(async () => {
      await api.post(path);
      setState(await api.get(path));
      form.setNotice("The app is now subscribed to this WABA.");
    });
  const apps = (state && state.apps) || [];
  return html`<section class="card" ref=${form.ref}>
    <h2>Subscription</h2>
    <p class="hint">Meta only sends a WABA's messages to apps subscribed to it — the usual reason messages “do not arrive”.</p>
    <${FormMessages} form=${form} />
    <div class="actions">
      <button type="button" class="btn" data-testid="check-subscription" onClick=${check} disabled=${form.busy}>Check subscription</button>
    </div>
    ${state &&
    html`<div class=${`status-box ${state.subscribed ? "ok" : "warn"}`} data-testid="subscription-status">
      ${state.subscribed
        ? html`<strong>✓ Subscribed.</strong> ${`Meta delivers this WABA's webhooks to ${apps.length === 1 ? "1 app" : `${apps.length} apps`}`}${apps.length
              ? `: ${apps.map((a) => (a.whatsapp_business_api_data && a.whatsapp_business_api_data.name) || a.name || a.id).filter(Boolean).join(", ")}`
              : "."}`
        : html`<strong>Not subscribed.</strong>
            <p>
              No app is subscribed to this WhatsApp Business Account, so Meta sends none of its messages or status updates here, and
              nothing arrives in the inbox.
            </p>
            <ol>
              <li>Subscribe the app to the WABA with the button below (it calls Graph's <code>subscribed_apps</code>).</li>
              <li>In Meta's App Dashboard → WhatsApp → Configuration, check that the Callback URL is the webhook URL above and that the Verify token is your WHATSAPP_VERIFY_TOKEN.</li>
              <li>Check that the <code>messages</code> webhook field is subscribed there.</li>
            </ol>
            <button type="button" class="btn primary" data-testid="subscribe" onClick=${subscribe} disabled=${form.busy}>Subscribe</button>`}
    </div>`}
  </section>`;
}

function Register({ channel }) {
  const form = useForm();
  const [pin, setPin] = useState("");
  const submit = (e) => {
    e.preventDefault();
    if (!/^\d{6}$/.test(pin)) {
      form.invalid({ pin: "The PIN is 6 digits." });
      return;
    }
    form.run(async () => {
      await api.post(`/v1/channels/${seg(channel.phone_number_id)}/register`, { pin });
      setPin("");
      form.setNotice("The number is registered for the Cloud API.");
    });
  };
  return html`<form class="card" ref=${form.ref} novalidate onSubmit=${submit}>
    <h2>Register the number</h2>
    <p class="hint">Registers the number for the Cloud API with its two-step verification PIN (set a new one if it never had one).</p>
    <${FormMessages} form=${form} />
    <div class="inline-form">
      <${Input}
        form=${form}
        label="Two-step PIN"
        name="pin"
        inputmode="numeric"
        autocomplete="off"
        placeholder="6 digits"
        value=${pin}
        onInput=${(e) => setPin(e.currentTarget.value.replace(/\s/g, ""))}
      />
      <button type="submit" class="btn" data-testid="register-submit" disabled=${form.busy}>Register</button>
    </div>
  </form>`;
}

function PhoneNumbers({ channel }) {
  const form = useForm();
  const [numbers, setNumbers] = useState(null);
  const load = () =>
    form.run(async () => {
      const r = await api.get(`/v1/channels/${seg(channel.phone_number_id)}/phone_numbers`);
      setNumbers((r && r.data) || []);
    });
  return html`<section class="card" ref=${form.ref}>
    <h2>The WABA's numbers</h2>
    <${FormMessages} form=${form} />
    <div class="actions"><button type="button" class="btn" data-testid="load-phone-numbers" onClick=${load} disabled=${form.busy}>Show quality and limits</button></div>
    ${numbers &&
    (numbers.length
      ? html`<div class="table-wrap"><table class="table" data-testid="phone-numbers">
          <thead><tr><th>Number</th><th>Verified name</th><th>Quality</th><th>Messaging limit</th><th>Status</th></tr></thead>
          <tbody>
            ${numbers.map(
              (n, i) => html`<tr key=${i}>
                <td>${n.display_phone_number || n.id}</td>
                <td>${n.verified_name || "—"}</td>
                <td><span class=${`badge quality-${String(n.quality_rating || "").toLowerCase()}`}>${n.quality_rating || "—"}</span></td>
                <td>${n.messaging_limit_tier || (n.throughput && n.throughput.level) || "—"}</td>
                <td>${n.status || n.code_verification_status || "—"}</td>
              </tr>`,
            )}
          </tbody>
        </table></div>`
      : html`<p class="empty">Graph lists no numbers for this WABA.</p>`)}
  </section>`;
}

function profileValues(p) {
  const w = (p && p.websites) || [];
  return {
    about: (p && p.about) || "",
    address: (p && p.address) || "",
    description: (p && p.description) || "",
    email: (p && p.email) || "",
    vertical: (p && p.vertical) || "",
    websites: [w[0] || "", w[1] || ""],
  };
}

function BusinessProfile({ channel }) {
  const sync = useForm();
  const form = useForm();
  const [profile, setProfile] = useState(null);
  const [syncedAt, setSyncedAt] = useState(null);
  const [v, setV] = useState(profileValues(null));
  const [photoFailed, setPhotoFailed] = useState(false);
  const path = `/v1/channels/${seg(channel.phone_number_id)}/profile`;
  const show = (r) => {
    setProfile(r.profile || {});
    setSyncedAt(r.synced_at);
    setV(profileValues(r.profile));
    setPhotoFailed(false);
  };

  const doSync = () =>
    sync.run(async () => {
      show(await api.get(path));
      form.reset();
    });

  const save = (e) => {
    e.preventDefault();
    const body = {};
    const before = profileValues(profile);
    for (const k of ["about", "address", "description", "email"]) if (v[k] !== before[k]) body[k] = v[k];
    if (v.vertical && v.vertical !== before.vertical) body.vertical = v.vertical;
    const sites = v.websites.map((s) => s.trim()).filter(Boolean);
    if (JSON.stringify(sites) !== JSON.stringify(before.websites.filter(Boolean))) body.websites = sites;
    if (!Object.keys(body).length) {
      form.setBanner("Change at least one field first.");
      return;
    }
    form.run(async () => {
      show(await api.patch(path, body));
      form.setNotice("Business profile saved.");
    });
  };

  const bind = (k) => ({ value: v[k], onInput: (e) => setV({ ...v, [k]: e.currentTarget.value }), limit: PROFILE_LIMITS[k] });
  const verticals = [["", v.vertical ? "—" : "Not set"], ...VERTICALS.map((x) => [x, x.replace(/_/g, " ").toLowerCase()])];
  if (v.vertical && !VERTICALS.includes(v.vertical)) verticals.push([v.vertical, v.vertical]);

  return html`<section class="card">
    <div class="card-head">
      <h2>Business profile</h2>
      <button type="button" class="btn" data-testid="sync-profile" onClick=${doSync} disabled=${sync.busy}>${sync.busy ? "Syncing…" : "Sync profile"}</button>
    </div>
    <div ref=${sync.ref}><${FormMessages} form=${sync} /></div>
    ${profile
      ? html`<div class="profile-view" data-testid="profile-view">
          ${profile.profile_picture_url &&
          html`<div class="profile-photo">
            ${!photoFailed
              ? html`<img src=${`${path}/photo?v=${encodeURIComponent(syncedAt || "")}`} alt="Profile photo" data-testid="profile-photo" onError=${() => setPhotoFailed(true)} />`
              : html`<span class="photo-placeholder" aria-hidden="true">🖼</span>`}
          </div>`}
          <dl class="facts">
            <div class="fact"><dt>About</dt><dd>${profile.about || "—"}</dd></div>
            <div class="fact"><dt>Description</dt><dd>${profile.description || "—"}</dd></div>
            <div class="fact"><dt>Address</dt><dd>${profile.address || "—"}</dd></div>
            <div class="fact"><dt>Email</dt><dd>${profile.email || "—"}</dd></div>
            <div class="fact"><dt>Category</dt><dd>${profile.vertical || "—"}</dd></div>
            <div class="fact"><dt>Websites</dt><dd>${(profile.websites || []).join(", ") || "—"}</dd></div>
          </dl>
          <p class="hint">Synced ${localFromMs(syncedAt)}</p>
        </div>`
      : html`<p class="hint">Sync to read the profile WhatsApp shows for this number. You can also save changes without syncing first.</p>`}
    <form ref=${form.ref} novalidate onSubmit=${save} class="grid-2" data-testid="profile-form">
      <${FormMessages} form=${form} />
      <${Input} form=${form} label="About" name="about" class="span-2" ...${bind("about")} />
      <${TextArea} form=${form} label="Description" name="description" rows="3" class="span-2" ...${bind("description")} />
      <${Input} form=${form} label="Address" name="address" class="span-2" ...${bind("address")} />
      <${Input} form=${form} label="Email" name="email" type="text" inputmode="email" ...${bind("email")} />
      <${Select} form=${form} label="Category" name="vertical" options=${verticals} value=${v.vertical} onChange=${(e) => setV({ ...v, vertical: e.currentTarget.value })} />
      ${[0, 1].map(
        (i) => html`<${Input}
          form=${form}
          key=${i}
          label=${`Website ${i + 1}`}
          name=${`websites.${i}`}
          type="text"
          inputmode="url"
          placeholder="https://"
          limit=${256}
          value=${v.websites[i]}
          onInput=${(e) => {
            const w = [...v.websites];
            w[i] = e.currentTarget.value;
            setV({ ...v, websites: w });
          }}
        />`,
      )}
      <div class="actions span-2"><button type="submit" class="btn primary" data-testid="profile-save" disabled=${form.busy}>Save profile</button></div>
    </form>
  </section>`;
}

function RemoveChannel({ channel }) {
  const [error, setError] = useState(null);
  return html`<section class="card danger-zone">
    <h2>Remove channel</h2>
    <p class="hint">Removes the channel row; its messages stay.</p>
    <${ConfirmButton}
      label="Remove channel"
      class="danger-outline"
      testid="channel-delete"
      confirmTestid="channel-delete-confirm"
      question="Remove this channel? Messages to it will no longer be routed through it."
      confirmLabel="Remove"
      onConfirm=${async () => {
        try {
          await api.del(`/v1/channels/${seg(channel.phone_number_id)}`);
          await loadChannels(true).catch(() => {});
          location.hash = "#/channels";
        } catch (e) {
          setError(e.message);
        }
      }}
    />
    ${error && html`<div class="banner error" role="alert">${error}</div>`}
  </section>`;
}

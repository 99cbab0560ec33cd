// main.js — the console's entry: session bootstrap (GET /v1/session for the
// CSRF token after a reload), the sign-in screen, the top navigation, sign-out,
// and the hash router that picks the screen.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { html } from "./html.js";
import { api, onSessionLost, setCsrf } from "./api.js";
import { Input, useForm } from "./forms.js";
import { Inbox } from "./inbox.js";
import { ChannelDetail, ChannelList } from "./channels.js";
import { Templates } from "./templates.js";
import { Rules } from "./rules.js";
import { Events } from "./events.js";

const NAV = [
  ["inbox", "Inbox"],
  ["channels", "Channels"],
  ["templates", "Templates"],
  ["rules", "Auto-replies"],
  ["events", "Events"],
];

function parseHash() {
  return location.hash
    .replace(/^#\/?/, "")
    .split("/")
    .filter(Boolean)
    .map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    });
}

function useRoute() {
  const [route, setRoute] = useState(parseHash);
  useEffect(() => {
    const f = () => setRoute(parseHash());
    addEventListener("hashchange", f);
    return () => removeEventListener("hashchange", f);
  }, []);
  return route;
}

function App() {
  const [session, setSession] = useState({ state: "loading" });

  useEffect(() => {
    onSessionLost(() => setSession({ state: "out", message: "Your session has ended. Sign in again." }));
    api.get("/v1/session", null, { signIn: true }).then(
      (s) => {
        setCsrf(s.csrf_token);
        setSession({ state: "in" });
      },
      (e) => setSession({ state: "out", message: e.status === 401 ? null : e.message }),
    );
  }, []);

  if (session.state === "loading") return html`<div class="splash" aria-busy="true">Loading…</div>`;
  if (session.state === "out")
    return html`<${SignIn}
      message=${session.message}
      onSignedIn=${(s) => {
        setCsrf(s.csrf_token);
        setSession({ state: "in" });
      }}
    />`;
  return html`<${Console}
    onSignedOut=${() => {
      setCsrf(null);
      setSession({ state: "out", message: "You have signed out." });
    }}
  />`;
}

function SignIn({ message, onSignedIn }) {
  const form = useForm();
  const [token, setToken] = useState("");
  const [waitUntil, setWaitUntil] = useState(0);
  const [, tick] = useState(0);
  const wait = Math.ceil((waitUntil - Date.now()) / 1000);

  useEffect(() => {
    if (wait <= 0) return undefined;
    const t = setTimeout(() => tick((n) => n + 1), 1000);
    return () => clearTimeout(t);
  });

  const submit = (e) => {
    e.preventDefault();
    if (!token.trim()) {
      form.invalid({ token: "Enter the admin token." });
      return;
    }
    form.run(async () => {
      try {
        const s = await api.post("/v1/session", { token }, { signIn: true });
        if (!parseHash().length) location.hash = "#/inbox";
        onSignedIn(s);
      } catch (err) {
        if (err.status === 429 && err.retryAfter) setWaitUntil(Date.now() + err.retryAfter * 1000);
        // Every sign-in error belongs under the token field.
        err.field = "token";
        throw err;
      }
    });
  };

  return html`<main class="signin">
    <form class="card signin-card" ref=${form.ref} novalidate onSubmit=${submit}>
      <div class="brand-big" aria-hidden="true">wa</div>
      <h1>wa-edge console</h1>
      ${message && html`<p class="muted" role="status">${message}</p>`}
      <${Input}
        form=${form}
        label="Admin token"
        name="token"
        type="password"
        autocomplete="current-password"
        value=${token}
        onInput=${(e) => setToken(e.currentTarget.value)}
        errorTestid="signin-error"
        autofocus
      />
      ${wait > 0 && html`<p class="hint" role="status">You can try again in ${wait} s.</p>`}
      <button type="submit" class="btn primary wide" data-testid="signin-submit" disabled=${form.busy || wait > 0}>
        ${form.busy ? "Signing in…" : "Sign in"}
      </button>
    </form>
  </main>`;
}

function Console({ onSignedOut }) {
  const route = useRoute();
  const [signingOut, setSigningOut] = useState(false);
  const [navError, setNavError] = useState(null);
  const screen = route[0] || "inbox";

  useEffect(() => {
    if (!route.length) history.replaceState(null, "", "#/inbox");
    const label = (NAV.find(([k]) => k === screen) || [])[1];
    document.title = label ? `${label} · wa-edge` : "wa-edge";
  }, [screen, route.length]);

  const signOut = async () => {
    setSigningOut(true);
    setNavError(null);
    try {
      await api.post("/v1/session/logout", undefined, { signIn: true });
      onSignedOut();
    } catch (e) {
      if (e.status === 401) onSignedOut();
      else setNavError(`Could not sign out: ${e.message}`);
    } finally {
      setSigningOut(false);
    }
  };

  let body;
  if (screen === "inbox") body = html`<${Inbox} contactId=${route[1]} pnid=${route[2]} />`;
  else if (screen === "channels") body = route[1] ? html`<${ChannelDetail} key=${route[1]} id=${route[1]} />` : html`<${ChannelList} />`;
  else if (screen === "templates") body = html`<${Templates} />`;
  else if (screen === "rules") body = html`<${Rules} />`;
  else if (screen === "events") body = html`<${Events} />`;
  else
    body = html`<div class="page"><div class="card"><h1>Not found</h1><p>There is no page at this address. <a href="#/inbox">Go to the inbox</a>.</p></div></div>`;

  return html`<div class="app">
    <header class="topbar">
      <a class="brand" href="#/inbox" aria-label="wa-edge home"><span class="brand-mark" aria-hidden="true">wa</span><span class="brand-name">wa-edge</span></a>
      <nav class="nav" aria-label="Main">
        ${NAV.map(
          ([k, label]) =>
            html`<a href=${`#/${k}`} key=${k} class=${screen === k ? "active" : undefined} aria-current=${screen === k ? "page" : undefined} data-testid=${`nav-${k}`}>${label}</a>`,
        )}
      </nav>
      <button type="button" class="btn ghost signout" data-testid="signout" onClick=${signOut} disabled=${signingOut}>Sign out</button>
    </header>
    ${navError && html`<div class="banner error app-banner" role="alert">${navError}</div>`}
    <main class=${`main main-${screen}`}>${body}</main>
  </div>`;
}

render(html`<${App} />`, document.getElementById("app"));

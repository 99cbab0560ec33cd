// api.js — the one fetch wrapper for the console: same-origin cookie, the CSRF
// header on every non-GET request, JSON in and out, API errors as ApiError
// (code, message, field), a 401 dropping back to sign-in, plus the polling hook
// and the shared channel list every screen reads.
import { useEffect, useRef, useState } from "preact/hooks";

let csrfToken = null;
let sessionLost = () => {};

export function setCsrf(token) {
  csrfToken = token || null;
}

/** Called with no arguments whenever a call answers 401 (except sign-in itself). */
export function onSessionLost(fn) {
  sessionLost = fn;
}

export class ApiError extends Error {
  constructor(status, code, message, field, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field || null;
    this.retryAfter = retryAfter;
  }
}

/** A path segment, percent-encoded (wamids carry `=`, contact names `+`);
 * dots too, so a `..` from the URL hash can never climb to another path. */
export const seg = (s) => encodeURIComponent(String(s)).replace(/\./g, "%2E");

export function withQuery(path, query) {
  if (!query) return path;
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && v !== null && v !== "" && v !== false) p.set(k, String(v));
  }
  const s = p.toString();
  return s ? `${path}?${s}` : path;
}

/**
 * One request. `body` is JSON unless it is a Blob (sent as is, with
 * `contentType`). `signIn: true` keeps a 401 from ending the session (the
 * sign-in and session probe calls). Answers the parsed JSON, the text of a
 * non-JSON body, or null for 204.
 */
export async function request(method, path, opts = {}) {
  const headers = { Accept: "application/json", ...(opts.headers || {}) };
  let body;
  if (opts.body instanceof Blob) {
    body = opts.body;
    headers["Content-Type"] = opts.contentType || opts.body.type || "application/octet-stream";
  } else if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers["Content-Type"] = "application/json";
  }
  if (method !== "GET" && method !== "HEAD" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  let res;
  try {
    res = await fetch(withQuery(path, opts.query), {
      method,
      headers,
      body,
      credentials: "same-origin",
      signal: opts.signal,
    });
  } catch (e) {
    if (e && e.name === "AbortError") throw e;
    throw new ApiError(0, "network_error", "Could not reach wa-edge. Check your connection and try again.");
  }
  const type = res.headers.get("Content-Type") || "";
  let data = null;
  if (res.status !== 204 && res.status !== 205) {
    const text = await res.text();
    if (type.includes("json") && text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = text;
      }
    } else data = text;
  }
  if (res.ok) return data;
  const err = data && typeof data === "object" && data.error && typeof data.error === "object" ? data.error : {};
  const retry = Number(res.headers.get("Retry-After")) || undefined;
  const e = new ApiError(
    res.status,
    err.code || `http_${res.status}`,
    err.message || `The request failed (HTTP ${res.status}).`,
    err.field,
    retry,
  );
  if (res.status === 401 && !opts.signIn) {
    csrfToken = null;
    sessionLost();
  }
  // A stale CSRF token (the session was renewed elsewhere): learn the current one and try once more.
  if (res.status === 403 && e.code === "csrf_failed" && !opts.csrfRetried) {
    const s = await request("GET", "/v1/session").catch(() => null);
    if (s && s.csrf_token) {
      csrfToken = s.csrf_token;
      return request(method, path, { ...opts, csrfRetried: true });
    }
  }
  throw e;
}

export const api = {
  get: (path, query, opts) => request("GET", path, { ...opts, query }),
  post: (path, body, opts) => request("POST", path, { ...opts, body }),
  put: (path, body, opts) => request("PUT", path, { ...opts, body }),
  patch: (path, body, opts) => request("PATCH", path, { ...opts, body }),
  del: (path, opts) => request("DELETE", path, opts),
};

/** A random UUID (v4), for Idempotency-Key. */
export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = [...b].map((v) => v.toString(16).padStart(2, "0")).join("");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/**
 * Runs `fn(alive)` now and every `ms` while the tab is visible (paused while
 * hidden, run at once when it shows again), never two at a time. `alive()`
 * turns false once the deps change or the component unmounts, so a late
 * answer is dropped. Answers a function that polls at once.
 */
export function usePoll(fn, ms, deps) {
  const fnRef = useRef(fn);
  fnRef.current = fn;
  const kick = useRef(() => {});
  useEffect(() => {
    let stopped = false;
    let running = false;
    let again = false;
    let timer = null;
    const alive = () => !stopped;
    const tick = async () => {
      clearTimeout(timer);
      if (stopped || document.hidden) return;
      if (running) {
        again = true;
        return;
      }
      running = true;
      try {
        await fnRef.current(alive);
      } catch {
        // The poller reports its own errors; a failed tick just waits for the next.
      } finally {
        running = false;
      }
      if (stopped || document.hidden) return;
      if (again) {
        again = false;
        tick();
      } else timer = setTimeout(tick, ms);
    };
    const onVisibility = () => (document.hidden ? clearTimeout(timer) : tick());
    document.addEventListener("visibilitychange", onVisibility);
    kick.current = tick;
    tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
      document.removeEventListener("visibilitychange", onVisibility);
    };
  }, deps);
  return () => kick.current();
}

let channelsPromise = null;
const channelListeners = new Set();

/** GET /v1/channels, shared; `force` reloads it and updates every useChannels(). */
export function loadChannels(force) {
  if (force || !channelsPromise) {
    const p = api.get("/v1/channels").then((r) => (r && Array.isArray(r.data) ? r.data : []));
    channelsPromise = p;
    p.then(
      (list) => channelListeners.forEach((f) => f(list)),
      () => {
        if (channelsPromise === p) channelsPromise = null;
      },
    );
  }
  return channelsPromise;
}

/** The channel list (empty until loaded, or when it could not be read). */
export function useChannels() {
  const [list, setList] = useState([]);
  useEffect(() => {
    let on = true;
    const f = (l) => on && setList(l);
    channelListeners.add(f);
    loadChannels().then(f, () => {});
    return () => {
      on = false;
      channelListeners.delete(f);
    };
  }, []);
  return list;
}

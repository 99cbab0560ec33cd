// Baseline peer for bench/run.sh: the webhook receiver a developer would write
// with whatsapp-api-js 6.3 on Workers. The library answers the verification
// handshake and checks X-Hub-Signature-256; its post() hands a callback only
// the first message or status of a delivery, so once the signature holds the
// worker walks the parsed body itself and stores every item in one D1 batch.
import { WhatsAppAPI } from "whatsapp-api-js/middleware/cloudflare";
import {
  WhatsAppAPIError,
  WhatsAppAPIFailedToVerifyError,
  WhatsAppAPIMissingRawBodyError,
  WhatsAppAPIMissingSignatureError,
  WhatsAppAPIPayloadTooLargeError,
  WhatsAppAPIUnexpectedError,
} from "whatsapp-api-js/errors";

const INSERT_MESSAGE =
  "INSERT OR IGNORE INTO messages (wamid, phone_number_id, from_id, type, timestamp, body) VALUES (?, ?, ?, ?, ?, ?)";
const INSERT_STATUS =
  "INSERT OR IGNORE INTO statuses (wamid, status, timestamp, recipient_id, body) VALUES (?, ?, ?, ?, ?)";

// One client per isolate: it caches the imported HMAC key between requests.
let client;
let clientSecret;
let clientToken;
function whatsapp(env) {
  if (!client || clientSecret !== env.WHATSAPP_APP_SECRET || clientToken !== env.WHATSAPP_VERIFY_TOKEN) {
    clientSecret = env.WHATSAPP_APP_SECRET;
    clientToken = env.WHATSAPP_VERIFY_TOKEN;
    client = new WhatsAppAPI({
      token: env.WHATSAPP_ACCESS_TOKEN ?? "", // only used to send, which the peer never does
      appSecret: clientSecret,
      webhookVerifyToken: clientToken,
      v: "v24.0",
      secure: true,
    });
  }
  return client;
}

const list = (x) => (Array.isArray(x) ? x : []);
const int = (x) => {
  const n = Number(x);
  return Number.isFinite(n) ? n : null;
};
const str = (x) => (typeof x === "string" ? x : null);
const status = (code) => new Response(null, { status: code });
const errorStatus = (e) => (e instanceof WhatsAppAPIError ? e.httpStatus : 500);

// GET /webhook: Meta's subscription handshake.
function verifySubscription(url, env) {
  try {
    return new Response(whatsapp(env).get(Object.fromEntries(url.searchParams)) ?? "");
  } catch (e) {
    return status(errorStatus(e));
  }
}

// POST /webhook: one delivery (any number of entries, changes and items).
async function receive(request, env) {
  const wa = whatsapp(env);
  let data;
  let raw;
  try {
    // The same limits as the library's own middleware (handle_post).
    const length = request.headers.get("Content-Length");
    if (!length || Number.isNaN(+length)) throw new WhatsAppAPIMissingRawBodyError();
    if (+length > WhatsAppAPI._MAX_PAYLOAD_SIZE) throw new WhatsAppAPIPayloadTooLargeError();
    raw = await request.text();
    if (!raw) throw new WhatsAppAPIMissingRawBodyError();
    const signature = request.headers.get("X-Hub-Signature-256");
    if (!signature) throw new WhatsAppAPIMissingSignatureError();
    if (!(await wa.verifyRequestSignature(raw, signature))) throw new WhatsAppAPIFailedToVerifyError();
    try {
      data = JSON.parse(raw);
    } catch {
      throw new WhatsAppAPIUnexpectedError("Invalid payload", 400);
    }
    if (!data || typeof data !== "object" || !data.object) throw new WhatsAppAPIUnexpectedError("Invalid payload", 400);
  } catch (e) {
    return status(errorStatus(e));
  }

  const insertMessage = env.DB.prepare(INSERT_MESSAGE);
  const insertStatus = env.DB.prepare(INSERT_STATUS);
  const statements = [];
  let messages = 0;
  let statuses = 0;
  for (const entry of list(data.entry)) {
    for (const change of list(entry?.changes)) {
      const value = change?.value;
      if (change.field !== "messages" || !value) continue;
      const phoneNumberId = str(value.metadata?.phone_number_id);
      for (const m of list(value.messages)) {
        if (typeof m?.id !== "string") continue;
        statements.push(
          insertMessage.bind(m.id, phoneNumberId, str(m.from), str(m.type), int(m.timestamp), JSON.stringify(m)),
        );
        messages++;
      }
      for (const s of list(value.statuses)) {
        if (typeof s?.id !== "string" || typeof s.status !== "string") continue;
        statements.push(
          insertStatus.bind(s.id, s.status, int(s.timestamp), str(s.recipient_id), JSON.stringify(s)),
        );
        statuses++;
      }
    }
  }
  if (statements.length > 0) await env.DB.batch(statements);
  return Response.json({ messages, statuses });
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/webhook") {
      if (request.method === "GET") return verifySubscription(url, env);
      if (request.method === "POST") return receive(request, env);
    } else if (url.pathname === "/healthz" && request.method === "GET") {
      return new Response("ok");
    }
    return new Response("Not Found", { status: 404 });
  },
};

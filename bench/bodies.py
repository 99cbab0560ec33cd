#!/usr/bin/env python3
"""Pre-signs webhook notifications for bench/post.lua (wrk's Lua has no HMAC).

Usage: bodies.py N SECRET OUT [PREFIX] [CHANNELS] [ITEMS]

Writes N lines "<kind>\t<X-Hub-Signature-256>\t<body>" to OUT: compact JSON as
Meta sends it, non-ASCII text and emoji escaped as \\uXXXX (as Meta does),
messages 2.1-2.6 KB and statuses ~1.2 KB, each carrying its own wamid (so
every request is a real insert, never a dedupe). PREFIX (default BENCH) goes
into every wamid, so a warm-up set never collides with the measured set.
The senders come from a pool of 200 returning customers, a few of them much
more often than the rest; CHANNELS (default 1) business numbers take turns.
Statuses outnumber messages, as in real traffic (each sent message comes
back as sent, delivered, read). The mix repeats every 15 bodies: 9 statuses,
3 text messages, 1 image, 1 button reply, 1 list reply. Prints the mix of
all N as JSON on stdout.
"""
import hashlib
import hmac
import json
import sys

n, secret, out = int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3]
prefix = sys.argv[4] if len(sys.argv) > 4 else "BENCH"
channels = int(sys.argv[5]) if len(sys.argv) > 5 else 1
# ITEMS (argv 6, default 1): items per delivery, as Meta batches them.
items_per = int(sys.argv[6]) if len(sys.argv) > 6 else 1

WABA = "102290129340398"
NUMBERS = [("15550783881", "106540352242922"), ("15550783882", "106540352242923"),
           ("15550783883", "106540352242924"), ("15550783884", "106540352242925")]
MIX = ["text", "status", "status", "text", "status", "image", "status", "status", "button_reply",
       "status", "text", "status", "status", "list_reply", "status"]
WORDS = ("hello order delivery tracking week Berlin parcel refund invoice address courier "
         "thanks please size colour return exchange store weekend morning payment card "
         "Grüße café ¿Dónde está mi pedido? спасибо 😀 🙏 👍 日本 São Paulo naïve").split()
CUSTOMERS = 200


def meta(i):
    display, pnid = NUMBERS[i % min(channels, len(NUMBERS))]
    return {"display_phone_number": display, "phone_number_id": pnid}


def customer(i):
    # Returning customers: the square skews the pick toward the first ones.
    x = (i * 0.6180339887) % 1.0
    return f"1650555{int(CUSTOMERS * x * x):04d}"


def wamid(i, kind):
    # Same shape as Meta's (base64 of a protobuf); unique per index.
    return f"wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQz{prefix}{kind[:2].upper()}{i:09d}RjQ1MEQ2QjVBMUFEAA=="


def prose(i, length):
    out, k = [], i
    while sum(len(w) + 1 for w in out) < length:
        k = (k * 1103515245 + 12345) & 0x7FFFFFFF
        out.append(WORDS[k % len(WORDS)])
    return " ".join(out)[:length].capitalize() + "."


def envelope(value):
    return {"object": "whatsapp_business_account",
            "entry": [{"id": WABA, "changes": [{"value": value, "field": "messages"}]}]}


def contact(wa_id, i):
    return {"profile": {"name": f"Customer {i % 997} {prose(i, 24)}"}, "wa_id": wa_id}


def message(i, kind):
    wa_id = customer(i)
    ts = str(1739321024 + i)
    size = 2100 + (i * 37) % 500  # 2.1-2.6 KB, so the mix averages ~2 KB
    if kind == "text":
        m = {"from": wa_id, "id": wamid(i, kind), "timestamp": ts, "type": "text",
             "text": {"body": prose(i, size - 560)}}
    elif kind == "image":
        m = {"from": wa_id, "id": wamid(i, kind), "timestamp": ts, "type": "image",
             "image": {"caption": prose(i, 1024), "mime_type": "image/jpeg",
                       "sha256": "k6BjK0kWZ8Lh0P+1C9bnXf8tK8i0S7m6oeLJ1l+GgYQ=", "id": f"10033834{i:08d}"}}
    else:
        reply = {"id": f"opt-{i % 12}", "title": prose(i, 20)}
        if kind == "list_reply":
            reply["description"] = prose(i + 1, 72)
        m = {"context": {"from": meta(i)["display_phone_number"], "id": wamid(i, "ctx")},
             "from": wa_id, "id": wamid(i, kind), "timestamp": ts, "type": "interactive",
             "interactive": {"type": kind, kind: reply}}
    value = {"messaging_product": "whatsapp", "metadata": meta(i),
             "contacts": [contact(wa_id, i)], "messages": [m]}
    body = envelope(value)
    # Bring short messages (interactive, image) up to ~2 KB with the referral
    # block click-to-WhatsApp ads attach to a conversation's first message.
    short = size - len(json.dumps(body, separators=(",", ":")))
    if short > 200:
        m["referral"] = {"source_url": "https://fb.me/" + "a" * 8, "source_id": f"{i:012d}",
                         "source_type": "ad", "headline": prose(i + 2, 60),
                         "body": prose(i + 3, max(20, short - 330)), "media_type": "image",
                         "image_url": "https://scontent.xx.fbcdn.net/v/t45.1600-4/abc.png",
                         "ctwa_clid": f"ARAkLkA8rmlFeiCktEJQ-QTwRiyYHAFDLMNDBH0CD3qpjd0HR{i:09d}"}
    return body


def status(i):
    s = {"id": wamid(i, "status"), "status": ["sent", "delivered", "read"][i % 3],
         "timestamp": str(1739321031 + i), "recipient_id": customer(i),
         "conversation": {"id": f"6ceb9d929c1a8bb96fa39c34{i:08x}", "expiration_timestamp": "1739407430",
                          "origin": {"type": "service"}},
         "pricing": {"billable": True, "pricing_model": "PMP", "category": "service", "type": "regular"},
         # Opaque data the business attached when sending (up to 512 chars).
         "biz_opaque_callback_data": prose(i, 512)}
    value = {"messaging_product": "whatsapp", "metadata": meta(i), "statuses": [s]}
    return envelope(value)


def large(shape, i):
    """One big delivery: 100 messages, 1000 statuses, or ~2.9 MB of long messages."""
    base = 1_000_000 * (i + 1)
    if shape == "1000_statuses":
        items = [status(base + k)["entry"][0]["changes"][0]["value"]["statuses"][0] for k in range(1000)]
        for item in items:  # statuses of a broadcast carry no callback data
            del item["biz_opaque_callback_data"]
        value = {"messaging_product": "whatsapp", "metadata": meta(0), "statuses": items}
    else:
        count, length = (100, 300) if shape == "100_messages" else (1000, 1800)
        items, people = [], {}
        for k in range(count):
            wa_id = customer(base + k)
            people[wa_id] = contact(wa_id, base + k)
            items.append({"from": wa_id, "id": wamid(base + k, shape), "timestamp": str(1739321024 + k),
                          "type": "text", "text": {"body": prose(base + k, length)}})
        value = {"messaging_product": "whatsapp", "metadata": meta(0),
                 "contacts": list(people.values()), "messages": items}
    return envelope(value)


def signed(body):
    return "sha256=" + hmac.new(secret, body.encode(), hashlib.sha256).hexdigest()


if n < 0:
    # bodies.py -K SECRET OUTDIR PREFIX: K variants of each big delivery, as
    # OUTDIR/<shape>.<k>.json with the signature in <shape>.<k>.sig.
    for shape in ("100_messages", "1000_statuses", "3MB"):
        for k in range(-n):
            body = json.dumps(large(shape, k), separators=(",", ":"))
            open(f"{out}/{shape}.{k}.json", "w").write(body)
            open(f"{out}/{shape}.{k}.sig", "w").write(signed(body))
    sys.exit(0)

def item(i):
    kind = MIX[i % len(MIX)]
    return kind, status(i) if kind == "status" else message(i, kind)


def batched(i):
    """ITEMS consecutive items in one delivery (one change, as Meta sends them)."""
    kinds, value = [], None
    for k in range(i * items_per, (i + 1) * items_per):
        kind, body = item(k)
        kinds.append(kind)
        v = body["entry"][0]["changes"][0]["value"]
        if value is None:
            value = {"messaging_product": "whatsapp", "metadata": v["metadata"]}
        for key in ("contacts", "messages", "statuses"):
            if key in v:
                value.setdefault(key, []).extend(v[key])
    return kinds, envelope(value)


mix = {k: 0 for k in MIX}
total = 0
with open(out, "w") as f:
    for i in range(n):
        kinds, body = batched(i) if items_per > 1 else ([MIX[i % len(MIX)]], item(i)[1])
        for kind in kinds:
            mix[kind] += 1
        body = json.dumps(body, separators=(",", ":"))
        total += len(body)
        f.write(f"{kinds[0] if len(kinds) == 1 else 'batch'}\t{signed(body)}\t{body}\n")
print(json.dumps({"mix": mix, "avg_bytes": total // max(n, 1)}))

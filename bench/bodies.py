#!/usr/bin/env python3
"""Pre-signs webhook notifications for bench/post.lua (wrk's Lua has no HMAC).

Usage: bodies.py N SECRET OUT [PREFIX]

Writes N lines "<kind>\t<X-Hub-Signature-256>\t<body>" to OUT: compact JSON as
Meta sends it, messages 2.1-2.6 KB and statuses ~1.2 KB (~2 KB on average),
each carrying its own wamid (so every request is a real insert, never a
dedupe). PREFIX (default BENCH) goes into every wamid, so a warm-up set never
collides with the measured set. The mix repeats every 10 bodies:
4 text messages, 3 statuses (sent, delivered, read), 1 image, 1 button reply,
1 list reply. Prints the mix of all N as JSON on stdout.
"""
import hashlib
import hmac
import json
import sys

n, secret, out = int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3]
prefix = sys.argv[4] if len(sys.argv) > 4 else "BENCH"

WABA = "102290129340398"
META = {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"}
MIX = ["text", "status", "text", "image", "status", "text", "button_reply", "status", "text", "list_reply"]
WORDS = ("hello order delivery tracking week Berlin parcel refund invoice address courier "
         "thanks please size colour return exchange store weekend morning payment card").split()


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
    wa_id = f"1650555{i % 4000:04d}"
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
        m = {"context": {"from": META["display_phone_number"], "id": wamid(i, "ctx")},
             "from": wa_id, "id": wamid(i, kind), "timestamp": ts, "type": "interactive",
             "interactive": {"type": kind, kind: reply}}
    value = {"messaging_product": "whatsapp", "metadata": META,
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
         "timestamp": str(1739321031 + i), "recipient_id": f"1650555{i % 4000:04d}",
         "conversation": {"id": f"6ceb9d929c1a8bb96fa39c34{i:08x}", "expiration_timestamp": "1739407430",
                          "origin": {"type": "service"}},
         "pricing": {"billable": True, "pricing_model": "PMP", "category": "service", "type": "regular"},
         # Opaque data the business attached when sending (up to 512 chars).
         "biz_opaque_callback_data": prose(i, 512)}
    value = {"messaging_product": "whatsapp", "metadata": META, "statuses": [s]}
    return envelope(value)


mix = {k: 0 for k in MIX}
total = 0
with open(out, "w") as f:
    for i in range(n):
        kind = MIX[i % len(MIX)]
        mix[kind] += 1
        body = json.dumps(status(i) if kind == "status" else message(i, kind), separators=(",", ":"))
        total += len(body)
        sig = "sha256=" + hmac.new(secret, body.encode(), hashlib.sha256).hexdigest()
        f.write(f"{kind}\t{sig}\t{body}\n")
print(json.dumps({"mix": mix, "avg_bytes": total // max(n, 1)}))

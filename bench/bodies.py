#!/usr/bin/env python3
"""Writes N signed, ~2 KB webhook notifications, one per line as
"<X-Hub-Signature-256>\t<body>", each with a unique wamid: a realistic mix of
text, image and interactive messages and delivery statuses."""
import hashlib, hmac, json, sys

n, secret, out = int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3]
META = {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"}
FILLER = "Could you tell me when my order will arrive? I ordered it last week and the tracking page has not changed. "


def envelope(value):
    return {"object": "whatsapp_business_account",
            "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}]}


def message(i, kind):
    wa_id = f"1650555{i % 5000:04d}"
    m = {"from": wa_id, "id": f"wamid.BENCH{i:08d}", "timestamp": str(1739321024 + i), "type": kind}
    if kind == "text":
        m["text"] = {"body": (FILLER * 20)[:1550]}
    elif kind == "image":
        m["image"] = {"caption": (FILLER * 14)[:1400], "mime_type": "image/jpeg", "sha256": "k6BjK0kWZ8Lh0P+1C9bnXf8tK8i0S7m6oeLJ1l+GgYQ=", "id": f"10033834213{i:05d}"}
    else:
        m["interactive"] = {"type": "nfm_reply", "nfm_reply": {"name": "flow", "body": "Sent",
                            "response_json": json.dumps({"flow_token": f"t-{i}", "notes": (FILLER * 14)[:1400]})}}
        m["context"] = {"from": "15550783881", "id": f"wamid.CTX{i:08d}" + "A" * 40}
    return envelope({"messaging_product": "whatsapp", "metadata": META,
                     "contacts": [{"profile": {"name": "Bench Customer " + FILLER[:60]}, "wa_id": wa_id}],
                     "messages": [m]})


def status(i):
    s = {"id": f"wamid.BENCHOUT{i:08d}" + "B" * 40, "status": ["sent", "delivered", "read"][i % 3],
         "timestamp": str(1739321024 + i), "recipient_id": f"1650555{i % 5000:04d}",
         "conversation": {"id": "6ceb9d929c1a8bb96fa39c34c1bb6f20", "expiration_timestamp": "1739407430", "origin": {"type": "service"}},
         "pricing": {"billable": True, "pricing_model": "PMP", "category": "service", "type": "regular"},
         "biz_opaque_callback_data": (FILLER * 16)[:1500]}
    return envelope({"messaging_product": "whatsapp", "metadata": META, "statuses": [s]})


kinds = {"text": 0, "image": 0, "interactive": 0, "status": 0}
with open(out, "w") as f:
    for i in range(n):
        kind = ["text", "text", "image", "interactive", "status"][i % 5]
        kinds[kind] += 1
        doc = status(i) if kind == "status" else message(i, kind)
        body = json.dumps(doc, separators=(",", ":"))
        sig = "sha256=" + hmac.new(secret, body.encode(), hashlib.sha256).hexdigest()
        f.write(f"{sig}\t{body}\n")
print(json.dumps(kinds))

"""Stores signed webhook deliveries in the worker before the contract test.

Every fixture in tests/fixtures (messages of each type, statuses, template,
quality and account events, malformed items) and one body that is not JSON
(a dead letter) is posted to POST /webhook with a valid X-Hub-Signature-256,
so the read routes answer with real rows and their response schemas are
checked against real data. Timestamps are moved to now, so the 24-hour
window of the fixtures' contact is open and sends to it can be accepted;
the user_preferences opt-out names another number, so that contact is not
opted out.

Usage: python3 seed.py BASE_URL APP_SECRET
"""

import glob
import hashlib
import hmac
import os
import re
import sys
import time
import urllib.request

base, secret = sys.argv[1], sys.argv[2].encode()
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")
now = str(int(time.time()))


def post(body: bytes, content_type: str = "application/json") -> None:
    signature = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        f"{base}/webhook", data=body, method="POST",
        headers={"Content-Type": content_type, "X-Hub-Signature-256": signature},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        if response.status != 200:
            sys.exit(f"seed: POST /webhook answered {response.status}")
        response.read()


count = 0
for path in sorted(glob.glob(os.path.join(root, "*.json"))):
    text = open(path, encoding="utf-8").read()
    text = re.sub(r'("timestamp"\s*:\s*)"\d+"', rf'\g<1>"{now}"', text)
    text = re.sub(r'("timestamp"\s*:\s*)\d+', rf"\g<1>{now}", text)
    if os.path.basename(path) == "user_preferences.json":
        text = text.replace("16505551234", "16505559999")
    post(text.encode())
    count += 1
post(b"{not json", "application/json")
print(f"seed: stored {count + 1} signed deliveries")

"""A loopback stand-in for Meta's Graph API and 360dialog's proxy.

tests/schema/run.sh points GRAPH_API_BASE and D360_API_BASE here, so the
routes that call WhatsApp (media, profile, templates, onboarding, sends)
answer as they do when WhatsApp accepts the call, and no request leaves the
machine. Every call succeeds with a body in Graph's shape; the contract test
checks wa-edge's answers, not WhatsApp's.

Usage: python3 graph_stub.py PORT_FILE   (writes the port it listens on)
"""

import json
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MEDIA_BYTES = b"\xff\xd8\xff\xe0stub-jpeg\xff\xd9"
# Graph's answer for an id or name it does not have.
NOT_FOUND = {"error": {"message": "(#100) Invalid parameter", "type": "OAuthException", "code": 100,
                       "error_subcode": 33, "fbtrace_id": "stub"}}


class Graph(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet: the run's output is Schemathesis's
        pass

    def _send(self, status, body, content_type="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _drain(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)

    def _answer(self):
        self._drain()
        url = urlsplit(self.path)
        path = url.path
        method = self.command
        host = self.headers.get("Host", "127.0.0.1")
        if path.startswith("/media-bytes/"):
            return self._send(200, MEDIA_BYTES, "image/jpeg")
        if path.endswith("/messages"):
            return self._send(200, {
                "messaging_product": "whatsapp",
                "contacts": [{"input": "16505551234", "wa_id": "16505551234"}],
                "messages": [{"id": "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBJTVFVCMDAwMDAwMDAwMDAwMQA="}],
            })
        if path.endswith("/phone_numbers"):
            return self._send(200, {"data": [{
                "id": "106540352242922", "display_phone_number": "15550783881",
                "verified_name": "Stub Shop", "quality_rating": "GREEN",
                "code_verification_status": "VERIFIED", "messaging_limit_tier": "TIER_250",
                "status": "CONNECTED",
            }]})
        if path.endswith("/subscribed_apps"):
            if method == "GET":
                return self._send(200, {"data": [{"whatsapp_business_api_data": {"id": "1", "name": "wa-edge"}}]})
            return self._send(200, {"success": True})
        if path.endswith("/whatsapp_business_profile"):
            if method == "GET":
                return self._send(200, {"data": [{
                    "about": "Stub", "address": "1 Main St", "description": "A stub profile",
                    "email": "shop@example.com", "websites": ["https://example.com"],
                    "vertical": "RETAIL", "messaging_product": "whatsapp",
                }]})
            return self._send(200, {"success": True})
        if path.endswith("/message_templates") or "/configs/templates" in path:
            if method == "GET":
                return self._send(200, {"data": [], "paging": {}})
            if method == "POST":
                return self._send(200, {"id": "594425479261596", "status": "PENDING", "category": "UTILITY"})
            # Template names are lowercase letters, digits and underscores.
            name = parse_qs(url.query).get("name", [path.rsplit("/", 1)[-1]])[0]
            if not re.fullmatch(r"[a-z0-9_]{1,512}", name):
                return self._send(400, NOT_FOUND)
            return self._send(200, {"success": True})
        if path.endswith("/configs/webhook"):
            return self._send(200, {"url": "https://example.com/webhook"})
        if path.endswith("/register"):
            return self._send(200, {"success": True})
        if path.endswith("/media") and method == "POST":
            return self._send(200, {"id": "1037543291543636"})
        if method == "GET":
            # A media id (digits): where to download it.
            if not re.fullmatch(r"/v[0-9.]+/[0-9]{1,32}", path):
                return self._send(400, NOT_FOUND)
            return self._send(200, {
                "messaging_product": "whatsapp", "url": f"http://{host}/media-bytes/1",
                "mime_type": "image/jpeg", "file_size": len(MEDIA_BYTES), "id": "1037543291543636",
            })
        return self._send(200, {"success": True})

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = do_HEAD = _answer


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Graph)
    server.daemon_threads = True
    with open(sys.argv[1], "w") as f:
        f.write(str(server.server_address[1]))
    server.serve_forever()


if __name__ == "__main__":
    main()

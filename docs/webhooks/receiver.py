import hashlib
import hmac
import json
import os
from http.server import BaseHTTPRequestHandler, HTTPServer

SECRET_TOKEN = os.environ["ZOOM_WEBHOOK_SECRET_TOKEN"].encode()


def sign(message: bytes) -> str:
    return hmac.new(SECRET_TOKEN, message, hashlib.sha256).hexdigest()


class ZoomEvents(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        timestamp = self.headers.get("x-zm-request-timestamp", "")
        expected = "v0=" + sign(b"v0:" + timestamp.encode() + b":" + body)
        if not hmac.compare_digest(expected, self.headers.get("x-zm-signature", "")):
            return self.answer(401, {"message": "signature does not verify"})
        event = json.loads(body)
        if event["event"] == "endpoint.url_validation":
            plain_token = event["payload"]["plainToken"]
            return self.answer(200, {"plainToken": plain_token, "encryptedToken": sign(plain_token.encode())})
        print(json.dumps(event), flush=True)  # handle the event here
        self.answer(200, {})

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


host, port = os.environ.get("LISTEN", "127.0.0.1:4000").rsplit(":", 1)
HTTPServer((host, int(port)), ZoomEvents).serve_forever()

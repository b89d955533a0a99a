"""A tiny webhook receiver for trying listeners out: prints each delivery and whether its signature is right.

    python3 examples/webhook_receiver.py 9000 my-secret

It answers 200 to every POST; a receiver deduplicates on ``deliveryId`` (deliveries are at least once).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

SEEN: set[str] = set()


def main() -> None:
    port, secret = int(sys.argv[1]), sys.argv[2].encode()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
            valid = hmac.compare_digest(expected, self.headers.get("X-Signature", ""))
            delivery = json.loads(body)
            again = delivery["deliveryId"] in SEEN
            SEEN.add(delivery["deliveryId"])
            print(f"{delivery['event']} {delivery['entity']} {json.dumps(delivery['record'])} "
                  f"signature={'ok' if valid else 'BAD'}{' (again)' if again else ''}", flush=True)
            self.send_response(200 if valid else 401)
            self.end_headers()

        def do_GET(self) -> None:  # a liveness check: the receiver is up
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    print(f"listening on http://127.0.0.1:{port}/hook", flush=True)
    HTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()

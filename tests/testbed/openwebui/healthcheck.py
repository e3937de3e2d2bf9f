"""Docker HEALTHCHECK: GET http://127.0.0.1:$PORT/health must answer 200 with {"status": true}."""
import json
import os
import sys
import urllib.request

try:
    url = "http://127.0.0.1:%s/health" % os.environ.get("PORT", "8080")
    with urllib.request.urlopen(url, timeout=4) as r:
        ok = r.status == 200 and json.loads(r.read() or b"{}").get("status") is True
except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
    print("unhealthy: %s" % exc)
    sys.exit(1)
sys.exit(0 if ok else 1)

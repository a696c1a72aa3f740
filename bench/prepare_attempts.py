#!/usr/bin/env python3
"""Opens quiz attempts for the submission benchmark.

usage: prepare_attempts.py BASE_URL COOKIES_FILE COUNT OUT_FILE

COOKIES_FILE holds one session cookie per line (one per bench user). Writes
"<cookie line index> <attempt id>" lines to OUT_FILE, spreading attempts over the users.
"""
import http.client
import json
import sys
import threading
from urllib.parse import urlparse

base, cookies_file, count, out_file = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
url = urlparse(base)
cookies = [line.strip() for line in open(cookies_file) if line.strip()]
THREADS = 8
lock = threading.Lock()
results = []
failures = []


def work(thread_index):
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    mine = []
    for n in range(thread_index, count, THREADS):
        user = n % len(cookies)
        conn.request("POST", "/api/v1/modules/bench-quiz/attempts", body=b"",
                     headers={"Cookie": cookies[user]})
        res = conn.getresponse()
        body = res.read()
        if res.status != 201:
            failures.append((res.status, body[:200]))
            continue
        mine.append(f"{user} {json.loads(body)['attempt_id']}")
    with lock:
        results.extend(mine)


threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
for t in threads:
    t.start()
for t in threads:
    t.join()
with open(out_file, "w") as f:
    f.write("\n".join(results) + "\n")
if failures:
    print(f"{len(failures)} attempt(s) could not be opened, first: {failures[0]}", file=sys.stderr)
    sys.exit(1)

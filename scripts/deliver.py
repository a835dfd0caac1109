#!/usr/bin/env python3
"""Sends GitHub-style webhook deliveries to wfd-web, as GitHub does: a JSON body signed with
HMAC-SHA256 of the shared secret in X-Hub-Signature-256, its id in X-GitHub-Delivery.

  deliver.py URL SECRET --count N [--concurrency C] [--forged F] [--redeliver R] [--prefix P]
             [--event release] [--body JSON]

Sends N deliveries with ids P-0 … P-(N-1) over C connections at once (keep-alive), F forged ones
(a wrong signature) mixed in, then R of the first deliveries again. Prints one JSON object: each
delivery's id, kind (valid, forged, redelivery), status, run id and seconds from sending its first
byte to reading its answer, with the wall-clock time it was sent; and the whole burst's seconds.
The body is {"action": "published", "release": {"tag_name": ID}, "n": i} unless --body is given
(then ID in it is replaced by the delivery's id)."""

import argparse
import hashlib
import hmac
import http.client
import json
import queue
import sys
import threading
import time
import urllib.parse


def sign(secret, body):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("secret")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--forged", type=int, default=0)
    parser.add_argument("--redeliver", type=int, default=0)
    parser.add_argument("--prefix", default="delivery")
    parser.add_argument("--event", default="release")
    parser.add_argument("--body")
    args = parser.parse_args()
    url = urllib.parse.urlsplit(args.url)

    def body_for(delivery, index):
        if args.body:
            return args.body.replace("ID", delivery).encode()
        return json.dumps({"action": "published", "release": {"tag_name": delivery}, "n": index}).encode()

    work = queue.Queue()
    valid = [(f"{args.prefix}-{i}", i, "valid") for i in range(args.count)]
    forged = [(f"{args.prefix}-forged-{i}", args.count + i, "forged") for i in range(args.forged)]
    # Forged ones go in among the valid ones.
    mixed = []
    every = max(1, len(valid) // len(forged)) if forged else 0
    for index, item in enumerate(valid):
        mixed.append(item)
        if forged and index % every == 0:
            mixed.append(forged.pop())
    mixed += forged
    for item in mixed:
        work.put(item)
    results = []
    lock = threading.Lock()

    def send(connection, delivery, index, kind):
        body = body_for(delivery, index)
        signature = sign(args.secret if kind != "forged" else args.secret + "-not", body)
        headers = {"Content-Type": "application/json", "X-GitHub-Event": args.event,
                   "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": signature,
                   "User-Agent": "GitHub-Hookshot/wfd-test"}
        sent = time.time()
        start = time.perf_counter()
        connection.request("POST", url.path, body=body, headers=headers)
        response = connection.getresponse()
        answer = response.read()
        took = time.perf_counter() - start
        run = None
        if answer and response.status < 300:
            try:
                run = json.loads(answer).get("run")
            except ValueError:
                pass
        with lock:
            results.append({"delivery": delivery, "kind": kind, "status": response.status, "run": run,
                            "seconds": took, "sent": sent})

    def worker():
        connection = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
        while True:
            try:
                delivery, index, kind = work.get_nowait()
            except queue.Empty:
                break
            try:
                send(connection, delivery, index, kind)
            except (OSError, http.client.HTTPException) as error:
                connection.close()
                connection = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
                with lock:
                    results.append({"delivery": delivery, "kind": kind, "status": 0, "run": None,
                                    "error": str(error), "seconds": 0, "sent": time.time()})
        connection.close()

    began = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    burst = time.perf_counter() - began
    for i in range(min(args.redeliver, args.count)):
        work.put((f"{args.prefix}-{i}", i, "redelivery"))
    threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    json.dump({"burst_seconds": burst, "results": results}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

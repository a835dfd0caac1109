#!/usr/bin/env python3
"""A loopback stand-in for the services wfd talks to, speaking their real wire protocols.

    standin.py SCENARIO.json LOG.jsonl      prints "PORT <n>" once it listens on 127.0.0.1

SCENARIO: {"routes": [ROUTE, ...]}. A ROUTE matches "method" and "path" (a regular expression
matched against the whole path, query excluded) and answers with its "responses" in turn (the last
one repeats). A RESPONSE is {"status": 200, "headers": {...}, "delay_ms": 0} plus one of:
  "json": any JSON value                       sent as application/json
  "body": "text"                                sent as text/plain
  "openai": {"content": "...", "prompt_tokens": n, "completion_tokens": m}
                                                a Chat Completions response
  "anthropic": {"input": {...}} or {"text": "..."}, with "input_tokens"/"output_tokens"
                                                a Messages response (tool_use or text)
  "agent": {"turns": [TURN, ...]}             a model in an agent loop, on either wire protocol
                                                (by the path: .../messages is Anthropic's)
A TURN is chosen by how many assistant messages the request already holds (so a conversation
taken up after a crash gets the same answers; past the last, the last repeats):
  {"calls": [{"name": "tool", "arguments": {...}}, ...]}   tool calls, ids call_<turn>_<i>
  {"answer": value}     the final answer: through the answer tool when the request offers it
                        (Anthropic with a schema), else as JSON text
  {"text": "..."}       a text answer
each with optional "prompt_tokens"/"completion_tokens".
A route with "idempotent": true remembers the response it gave for each Idempotency-Key and gives
it again for the same key without counting a new effect.

Every request is appended to LOG as one JSON line: method, path, query, headers (lower-case
names), body (parsed JSON when it is JSON), idempotency_key, replayed (true for a remembered key),
at (its arrival, seconds since the epoch) and the status sent.
"""
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

SCENARIO = json.load(open(sys.argv[1]))
LOG_PATH = sys.argv[2]
lock = threading.Lock()
served = {}        # route index -> how many requests it answered
remembered = {}    # (route index, idempotency key) -> response


def completion(spec, model):
    content = spec.get("content", "")
    if not isinstance(content, str):
        content = json.dumps(content)
    prompt, completion_tokens = spec.get("prompt_tokens", 10), spec.get("completion_tokens", 5)
    return {
        "id": "chatcmpl-standin", "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                     "finish_reason": spec.get("finish_reason", "stop")}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion_tokens,
                  "total_tokens": prompt + completion_tokens},
    }


def message(spec, request):
    if "input" in spec:
        tools = request.get("tools") or [{"name": "output"}]
        content = [{"type": "tool_use", "id": "toolu_standin", "name": tools[0]["name"], "input": spec["input"]}]
        stop = "tool_use"
    else:
        content = [{"type": "text", "text": spec.get("text", "")}]
        stop = "end_turn"
    return {
        "id": "msg_standin", "type": "message", "role": "assistant", "model": request.get("model", ""),
        "content": content, "stop_reason": stop, "stop_sequence": None,
        "usage": {"input_tokens": spec.get("input_tokens", 10), "output_tokens": spec.get("output_tokens", 5)},
    }


def agent_turn(spec, request, anthropic):
    messages = request.get("messages") or []
    number = sum(1 for m in messages if m.get("role") == "assistant")
    turns = spec["turns"]
    turn = turns[min(number, len(turns) - 1)]
    prompt, completion_tokens = turn.get("prompt_tokens", 10), turn.get("completion_tokens", 5)
    calls = [(f"call_{number}_{i}", c["name"], c.get("arguments", {})) for i, c in enumerate(turn.get("calls", []))]
    offered = [t.get("name") or t.get("function", {}).get("name") for t in request.get("tools") or []]
    if anthropic:
        content = [{"type": "tool_use", "id": i, "name": n, "input": a} for i, n, a in calls]
        if "answer" in turn and "final_answer" in offered:
            content.append({"type": "tool_use", "id": f"call_{number}_answer", "name": "final_answer",
                            "input": turn["answer"]})
        elif "answer" in turn:
            content.append({"type": "text", "text": json.dumps(turn["answer"])})
        elif "text" in turn:
            content.append({"type": "text", "text": turn["text"]})
        stop = "tool_use" if any(c["type"] == "tool_use" for c in content) else "end_turn"
        return {
            "id": "msg_standin", "type": "message", "role": "assistant", "model": request.get("model", ""),
            "content": content, "stop_reason": stop, "stop_sequence": None,
            "usage": {"input_tokens": prompt, "output_tokens": completion_tokens},
        }
    message = {"role": "assistant", "content": None}
    if calls:
        message["tool_calls"] = [{"id": i, "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
                                 for i, n, a in calls]
    elif "answer" in turn:
        message["content"] = json.dumps(turn["answer"])
    else:
        message["content"] = turn.get("text", "")
    return {
        "id": "chatcmpl-standin", "object": "chat.completion", "created": int(time.time()),
        "model": request.get("model", ""),
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion_tokens,
                  "total_tokens": prompt + completion_tokens},
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else each response waits ~40 ms for the client's ACK

    def log_message(self, *args):
        pass

    def handle_any(self):
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        key = self.headers.get("Idempotency-Key")
        entry = {"method": self.command, "path": parts.path, "query": parts.query,
                 "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body,
                 "idempotency_key": key, "replayed": False, "at": time.time()}
        response = None
        with lock:
            for index, route in enumerate(SCENARIO["routes"]):
                if route.get("method", "GET") == self.command and re.fullmatch(route["path"], parts.path):
                    if route.get("idempotent") and key and (index, key) in remembered:
                        response = remembered[(index, key)]
                        entry["replayed"] = True
                    else:
                        responses = route["responses"]
                        response = responses[min(served.get(index, 0), len(responses) - 1)]
                        served[index] = served.get(index, 0) + 1
                        if route.get("idempotent") and key:
                            remembered[(index, key)] = response
                    break
        if response is None:
            response = {"status": 404, "json": {"error": "no such route in the scenario"}}
        status = response.get("status", 200)
        entry["status"] = status
        with lock, open(LOG_PATH, "a") as log:  # on arrival, so a test can wait for it
            log.write(json.dumps(entry) + "\n")
        time.sleep(response.get("delay_ms", 0) / 1000)
        if "agent" in response:
            anthropic = parts.path.endswith("/messages")
            payload, kind = json.dumps(agent_turn(response["agent"], body or {}, anthropic)), "application/json"
        elif "openai" in response:
            payload, kind = json.dumps(completion(response["openai"], (body or {}).get("model", ""))), "application/json"
        elif "anthropic" in response:
            payload, kind = json.dumps(message(response["anthropic"], body or {})), "application/json"
        elif "json" in response:
            payload, kind = json.dumps(response["json"]), "application/json"
        else:
            payload, kind = response.get("body", ""), "text/plain"
        data = payload.encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for name, value in response.get("headers", {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True


server = Server(("127.0.0.1", 0), Handler)
print(f"PORT {server.server_address[1]}", flush=True)
server.serve_forever()

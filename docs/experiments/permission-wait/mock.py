import json, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
n = [0]
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers['content-length'])))
        n[0] += 1
        msgs = body["messages"]
        last = [m for m in msgs if m["role"] == "user"][-1]
        has_result = isinstance(last["content"], list) and any(b.get("type") == "tool_result" for b in last["content"])
        with open("requests.log", "a") as f: f.write(f"{time.time():.1f} request {n[0]} tool_result={has_result}\n")
        if has_result:
            block = {"type": "text", "text": "done"}; stop = "end_turn"
            delta = {"type": "text_delta", "text": "done"}; start = {"type": "text", "text": ""}
        else:
            inp = {"command": "echo hi > out.txt", "description": "write"}
            start = {"type": "tool_use", "id": f"toolu_{n[0]}", "name": "Bash", "input": {}}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(inp)}; stop = "tool_use"
        ev = [("message_start", {"type": "message_start", "message": {"id": f"msg_{n[0]}", "type": "message", "role": "assistant", "model": body["model"], "content": [], "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 10, "output_tokens": 1}}}),
              ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": start}),
              ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}),
              ("content_block_stop", {"type": "content_block_stop", "index": 0}),
              ("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None}, "usage": {"output_tokens": 5}}),
              ("message_stop", {"type": "message_stop"})]
        out = "".join(f"event: {a}\ndata: {json.dumps(b)}\n\n" for a, b in ev).encode()
        self.send_response(200); self.send_header("content-type", "text/event-stream"); self.send_header("content-length", str(len(out))); self.end_headers(); self.wfile.write(out)
srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
open("port", "w").write(str(srv.server_address[1]))
srv.serve_forever()

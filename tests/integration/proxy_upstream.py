#!/usr/bin/env python3
"""An upstream (application server) for the reverse-proxy integration tests:
a threaded raw-socket HTTP/1.1 server, keep-alive, Python stdlib only.

usage: proxy_upstream.py [--unix PATH | --ipv6] [--name NAME] [--mode MODE]
  prints its TCP port (0 for --unix) on a line of its own once it listens.
  --name NAME   sent back as X-Upstream: NAME on every response
  --mode normal  keep-alive as usual
         stale   closes every connection right after its response, without
                 Connection: close (the proxy's pooled connection goes stale)
         drop2   answers the first request of each connection; reads the
                 second one whole, counts it, then closes without a byte
         partial2 answers the first request of each connection; reads the
                 second one whole, counts it, sends a partial head
                 ("HTTP/1.1 200 OK\r\nContent-Le"), then closes

Paths (query arguments in brackets):
  /echo[?close=1]       text/plain: "method M", "target T", "version V",
                        "conn C R" (connection number, request number on it),
                        one "h NAME: VALUE" per field (names lowercased, in
                        order), "chunked 0|1", "body-length N", "body <bytes>"
                        (the first 200 body bytes).  Responds with hop-by-hop
                        fields (Keep-Alive, Connection: X-Hop, X-Hop) and Via.
  /echo-body            the request body as the response body, X-Body-Length,
                        X-Chunked: 0|1, X-Method
  /big?n=N              N pattern bytes (byte i = PAT[i % 251]), Content-Length
  /chunked?n=N&chunk=K  the same, chunked, K bytes a chunk (default 4096)
  /close-delimited?n=N  the same, HTTP/1.1 without length, then closes
  /slow-head?ms=M       waits M ms, then a 200 "slow"
  /slow-body?n=N&ms=M   head (Content-Length N) and N/2 bytes, waits M ms, the rest
  /truncate?n=N[&chunked=1]  promises N bytes, sends N/2, closes (chunked:
                        some chunks, never the last one)
  /reset                reads the request, closes with an RST
  /close                reads the request, closes (FIN) without a byte
  /never                reads the request, never answers (waits for EOF)
  /garbage              "SPEAKING NO HTTP" lines, then closes
  /huge-head            a 200 whose head holds 20 KiB of fields
  /head204              204 claiming Content-Length: 5 (no body sent)
  /304                  304 with ETag, Content-Length: 7 (no body sent)
  /status?code=N        status N, body "status N"
  /ws                   WebSocket handshake (101), then echoes raw bytes until EOF
  /split-head?ms=M[&interim=1]  a 200 "split body" whose head stops after
                        "Content-Le", the rest M ms later (interim=1: a
                        "100 Continue" head first, in the same write)
  /early413             reads the head only, answers 413 "too large" with
                        Connection: close, shuts its side, then reads (and
                        drops) the request body until EOF or 10 s
  /health               200 "ok", or 503 after /toggle-health?down=1 (not counted)
  /toggle-health?down=0|1
  A path whose last segment names one of these (/api/echo) is served as it.
  /count                "requests N", "connections N", "aborted N" (EOF inside a
                        request body), "never_closed N" (/never saw its EOF),
                        "health N", "idle_closed N" (connections closed by the
                        peer between requests), then "path P N" per path.  /count,
                        /health and /toggle-health are not counted.
"""
import base64
import hashlib
import os
import socket
import struct
import sys
import threading
import time

PAT = bytes((i * 7 + 3) % 251 for i in range(251))
BLOCK = PAT * 1024  # 257024 bytes, a whole number of periods
UNCOUNTED = ("/count", "/health", "/toggle-health")

lock = threading.Lock()
stats = {"requests": 0, "connections": 0, "aborted": 0, "never_closed": 0, "health": 0,
         "idle_closed": 0}
paths = {}
health_down = [False]
NAME = "up"
MODE = "normal"


def bump(key, n=1):
    with lock:
        stats[key] += n


def pattern(off, n):
    """n pattern bytes starting at offset off."""
    out = []
    while n > 0:
        start = off % 251
        take = min(n, len(BLOCK) - start)
        out.append(BLOCK[start:start + take])
        off += take
        n -= take
    return b"".join(out)


class Closed(Exception):
    pass


def read_head(rf):
    lines = []
    total = 0
    while True:
        line = rf.readline(65537)
        if not line:
            if lines:
                raise Closed("eof in head")
            return None
        total += len(line)
        if total > 65536:
            raise Closed("head too long")
        if line in (b"\r\n", b"\n"):
            if not lines:
                continue  # stray CRLF between requests
            return lines
        lines.append(line.rstrip(b"\r\n").decode("latin-1"))


def read_exact(rf, n):
    data = rf.read(n)
    if data is None or len(data) < n:
        raise Closed("eof in body")
    return data


def read_chunked(rf):
    parts = []
    while True:
        line = rf.readline(4096)
        if not line:
            raise Closed("eof in chunk size")
        size = int(line.split(b";")[0].strip(), 16)
        if size == 0:
            while True:  # trailers
                t = rf.readline(65536)
                if not t:
                    raise Closed("eof in trailers")
                if t in (b"\r\n", b"\n"):
                    return b"".join(parts)
        parts.append(read_exact(rf, size))
        read_exact(rf, 2)


def parse_query(target):
    path, _, q = target.partition("?")
    args = {}
    for kv in q.split("&"):
        if kv:
            k, _, v = kv.partition("=")
            args[k] = v
    return path, args


def response(status, reason, fields, body=b""):
    head = "HTTP/1.1 %d %s\r\n" % (status, reason)
    head += "X-Upstream: %s\r\n" % NAME
    for k, v in fields:
        head += "%s: %s\r\n" % (k, v)
    return head.encode("latin-1") + b"\r\n" + body


def simple(status, body, extra=()):
    return response(status, "R", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(body)))] + list(extra), body)


def close_rst(sock):
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass


def handle(sock, conn_state):
    """Serves one connection; returns when it is to be closed."""
    rf = sock.makefile("rb", buffering=65536)
    try:
        while True:
            try:
                lines = read_head(rf)
            except (Closed, OSError):
                return
            if lines is None:
                if conn_state["counted"]:
                    bump("idle_closed")  # closed by the client between requests
                return
            method, target, version = (lines[0].split(" ", 2) + ["", ""])[:3]
            fields = []
            for line in lines[1:]:
                k, _, v = line.partition(":")
                fields.append((k.strip().lower(), v.strip()))
            fmap = {}
            for k, v in fields:
                fmap.setdefault(k, v)
            path, args = parse_query(target)
            counted = path not in UNCOUNTED
            if counted:
                with lock:
                    if not conn_state["counted"]:
                        conn_state["counted"] = True
                        stats["connections"] += 1
                    stats["requests"] += 1
                    paths[path] = paths.get(path, 0) + 1
            conn_state["requests"] += 1
            nreq = conn_state["requests"]
            if path == "/early413" or path.endswith("/early413"):
                early_413(sock, rf)
                return
            # The body, if any.
            chunked = "chunked" in fmap.get("transfer-encoding", "").lower()
            try:
                if chunked:
                    body = read_chunked(rf)
                elif "content-length" in fmap:
                    body = read_exact(rf, int(fmap["content-length"]))
                else:
                    body = b""
            except (Closed, OSError, ValueError):
                bump("aborted")
                return
            if MODE == "drop2" and counted and nreq == 2:
                return
            if MODE == "partial2" and counted and nreq == 2:
                sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Le")
                return
            close_after = (version == "HTTP/1.0" or
                           "close" in fmap.get("connection", "").lower())
            out = dispatch(sock, rf, method, target, version, path, args, fields, fmap,
                           body, chunked, conn_state, nreq)
            if out is None:  # the handler dealt with the connection itself
                return
            sock.sendall(out)
            if close_after or conn_state.get("close") or (MODE == "stale" and counted):
                return
    except OSError:
        return
    finally:
        try:
            rf.close()
        except OSError:
            pass


def early_413(sock, rf):
    """Answers before the request body, then drains it until EOF (a close
    with unread bytes would reset the answer away)."""
    sock.sendall(simple(413, b"too large", [("Connection", "close")]))
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        return
    sock.settimeout(10)
    try:
        while sock.recv(65536):  # what rf buffered is dropped with it
            pass
    except OSError:
        return


KNOWN = ("/count", "/health", "/toggle-health", "/echo", "/echo-body", "/big", "/chunked",
         "/close-delimited", "/slow-head", "/slow-body", "/truncate", "/reset", "/close",
         "/never", "/garbage", "/huge-head", "/head204", "/304", "/status", "/ws",
         "/split-head")


def dispatch(sock, rf, method, target, version, path, args, fields, fmap, body, chunked,
             conn_state, nreq):
    head_req = method == "HEAD"
    if path not in KNOWN:  # /api/echo: what a route sends as-is
        last = "/" + path.rsplit("/", 1)[-1]
        if last in KNOWN and last not in UNCOUNTED:
            path = last

    def maybe_body(b):
        return b"" if head_req else b

    if path == "/count":
        with lock:
            text = "".join("%s %d\n" % (k, v) for k, v in stats.items())
            text += "".join("path %s %d\n" % (k, v) for k, v in sorted(paths.items()))
        return simple(200, text.encode())
    if path == "/health":
        bump("health")
        return simple(503, b"down") if health_down[0] else simple(200, b"ok")
    if path == "/toggle-health":
        health_down[0] = args.get("down") == "1"
        return simple(200, b"toggled")
    if path == "/echo":
        text = "method %s\ntarget %s\nversion %s\nconn %d %d\n" % (
            method, target, version, conn_state["id"], nreq)
        for k, v in fields:
            text += "h %s: %s\n" % (k, v)
        text += "chunked %d\nbody-length %d\nbody " % (int(chunked), len(body))
        out = text.encode("latin-1") + body[:200] + b"\n"
        extra = [("Keep-Alive", "timeout=9"), ("X-Hop", "secret"), ("Via", "1.0 up")]
        if args.get("close") == "1":
            extra.append(("Connection", "close"))
            conn_state["close"] = True
        else:
            extra.append(("Connection", "X-Hop"))
        return response(200, "OK", [("Content-Type", "text/plain"),
                                    ("Content-Length", str(len(out)))] + extra,
                        maybe_body(out))
    if path == "/echo-body":
        return response(200, "OK", [("Content-Length", str(len(body))),
                                    ("X-Body-Length", str(len(body))),
                                    ("X-Chunked", str(int(chunked))),
                                    ("X-Method", method)], maybe_body(body))
    if path == "/big":
        n = int(args.get("n", "0"))
        sock.sendall(response(200, "OK", [("Content-Length", str(n))]))
        if not head_req:
            off = 0
            while off < n:
                take = min(n - off, len(BLOCK))
                sock.sendall(pattern(off, take))
                off += take
        return b""
    if path == "/chunked":
        n = int(args.get("n", "0"))
        k = max(1, int(args.get("chunk", "4096")))
        sock.sendall(response(200, "OK", [("Transfer-Encoding", "chunked")]))
        if head_req:
            return b""
        off = 0
        while off < n:
            take = min(k, n - off)
            sock.sendall(b"%x\r\n" % take + pattern(off, take) + b"\r\n")
            off += take
        return b"0\r\n\r\n"
    if path == "/close-delimited":
        n = int(args.get("n", "0"))
        sock.sendall(response(200, "OK", [("Content-Type", "application/octet-stream")]))
        off = 0
        while off < n:
            take = min(n - off, len(BLOCK))
            sock.sendall(pattern(off, take))
            off += take
        return None
    if path == "/slow-head":
        time.sleep(int(args.get("ms", "1000")) / 1000.0)
        return simple(200, b"slow")
    if path == "/slow-body":
        n = int(args.get("n", "1000"))
        sock.sendall(response(200, "OK", [("Content-Length", str(n))]) + pattern(0, n // 2))
        time.sleep(int(args.get("ms", "1000")) / 1000.0)
        return pattern(n // 2, n - n // 2)
    if path == "/truncate":
        n = int(args.get("n", "1000"))
        if args.get("chunked") == "1":
            sock.sendall(response(200, "OK", [("Transfer-Encoding", "chunked")]))
            half = n // 2
            sock.sendall(b"%x\r\n" % half + pattern(0, half) + b"\r\n")
        else:
            sock.sendall(response(200, "OK", [("Content-Length", str(n))]) +
                         pattern(0, n // 2))
        time.sleep(0.05)
        return None
    if path == "/reset":
        close_rst(sock)
        return None
    if path == "/close":
        return None
    if path == "/never":
        deadline = time.time() + 120
        sock.settimeout(1.0)
        while time.time() < deadline:
            try:
                if not sock.recv(65536):
                    bump("never_closed")
                    return None
            except socket.timeout:
                continue
            except OSError:
                bump("never_closed")
                return None
        return None
    if path == "/garbage":
        sock.sendall(b"SPEAKING NO HTTP\r\nAT ALL\r\n\r\n")
        return None
    if path == "/huge-head":
        extra = [("X-Big-%d" % i, "b" * 1000) for i in range(20)]
        return response(200, "OK", [("Content-Length", "2")] + extra, b"ok")
    if path == "/head204":
        return response(204, "No Content", [("Content-Length", "5")])
    if path == "/304":
        return response(304, "Not Modified", [("ETag", '"v1"'), ("Content-Length", "7")])
    if path == "/status":
        code = int(args.get("code", "200"))
        return simple(code, b"status %d" % code)
    if path == "/split-head":
        full = simple(200, b"split body")
        cut = full.index(b"Content-Le") + len(b"Content-Le")
        first = full[:cut]
        if args.get("interim") == "1":
            first = b"HTTP/1.1 100 Continue\r\n\r\n" + first
        sock.sendall(first)
        time.sleep(int(args.get("ms", "300")) / 1000.0)
        return full[cut:]
    if path == "/ws":
        key = fmap.get("sec-websocket-key", "")
        if "websocket" not in fmap.get("upgrade", "").lower() or not key:
            return simple(400, b"not a websocket request")
        accept = base64.b64encode(hashlib.sha1(
            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        sock.sendall(response(101, "Switching Protocols",
                              [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                               ("Sec-WebSocket-Accept", accept)]))
        sock.settimeout(60)
        while True:
            data = rf.read1(65536)
            if not data:
                return None
            sock.sendall(data)
    return simple(404, b"no such path on the upstream")


def serve(sock, cid):
    sock.settimeout(60)
    state = {"id": cid, "requests": 0, "counted": False}
    try:
        handle(sock, state)
    except Exception as e:  # a test's own failure must show, not hang
        sys.stderr.write("proxy_upstream: %r\n" % (e,))
    finally:
        try:
            sock.close()
        except OSError:
            pass


def main():
    global NAME, MODE
    argv = sys.argv[1:]
    unix_path = None
    family = socket.AF_INET
    while argv:
        a = argv.pop(0)
        if a == "--unix":
            unix_path = argv.pop(0)
        elif a == "--ipv6":
            family = socket.AF_INET6
        elif a == "--name":
            NAME = argv.pop(0)
        elif a == "--mode":
            MODE = argv.pop(0)
        else:
            sys.stderr.write("proxy_upstream: unknown argument %s\n" % a)
            return 2
    if unix_path:
        try:
            os.unlink(unix_path)
        except FileNotFoundError:
            pass
        ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        ls.bind(unix_path)
        port = 0
    else:
        ls = socket.socket(family, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
        port = ls.getsockname()[1]
    ls.listen(1024)
    sys.stdout.write("%d\n" % port)
    sys.stdout.flush()
    cid = 0
    while True:
        c, _ = ls.accept()
        cid += 1
        if family != socket.AF_UNIX and not unix_path:
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=serve, args=(c, cid), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())

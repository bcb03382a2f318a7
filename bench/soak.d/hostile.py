#!/usr/bin/env python3
"""Hostile HTTP clients for bench/soak.  Bounded in connections and in time;
every mode stops by itself at its deadline and prints one JSON line of counts.

  hostile.py slowloris HOST PORT SECONDS [--conns N] [--interval S]
      N connections (100) each trickle a request head, one byte every S
      seconds (1.0); whenever the server closes one (408, EOF or reset), a new
      one takes its place.  Records how long the server let each live after
      its first byte.  A head sent completely means the server never timed
      it out.

  hostile.py abuse HOST PORT SECONDS [--threads N] [--seed X]
      N threads (3) loop over abusive requests: random garbage, headers of
      64 KiB..1 MiB, a 4 KiB request-target, 100 header fields, a bad
      version, Content-Length and chunk sizes over --max-body, 1,000
      pipelined requests that are never read (small window), and 16 pipelined
      requests followed by a reset.  Every answer's status is checked against
      what the request deserves; anything else is counted as unexpected.
"""
import argparse
import json
import random
import selectors
import socket
import struct
import sys
import threading
import time

HEAD = (b"GET /plaintext HTTP/1.1\r\nHost: soak\r\nUser-Agent: slowloris\r\n"
        + b"X-Pad: aaaaaaaaaaaaaaaa\r\n" * 8 + b"\r\n")


def now():
    return time.monotonic()


def slowloris(host, port, secs, conns, interval):
    deadline = now() + secs
    sel = selectors.DefaultSelector()
    st = {"opened": 0, "closed_408": 0, "closed_eof": 0, "closed_rst": 0,
          "head_completed": 0, "connect_failed": 0, "max_life_s": 0.0}
    live = {}  # sock -> [pos, next_send, first_byte_time, got]
    rng = random.Random(1)

    def open_one(start):
        try:
            s = socket.create_connection((host, port), timeout=5)
        except OSError:
            st["connect_failed"] += 1
            return
        s.setblocking(False)
        st["opened"] += 1
        live[s] = [0, start, None, b""]
        sel.register(s, selectors.EVENT_READ)

    def closed(s, how):
        info = live.pop(s)
        sel.unregister(s)
        s.close()
        st[how] += 1
        if info[2] is not None:
            st["max_life_s"] = max(st["max_life_s"], round(now() - info[2], 3))

    t0 = now()
    for _ in range(conns):  # staggered, so the server sees a steady churn
        open_one(t0 + rng.random() * interval)
    while now() < deadline:
        t = now()
        for s, info in list(live.items()):
            if info[1] <= t:
                try:
                    s.send(HEAD[info[0]:info[0] + 1])
                    if info[2] is None:
                        info[2] = t
                    info[0] += 1
                    info[1] = t + interval
                    if info[0] == len(HEAD):  # the server never timed it out
                        st["head_completed"] += 1
                        live.pop(s)
                        sel.unregister(s)
                        s.close()
                except (BlockingIOError, InterruptedError):
                    info[1] = t + interval
                except OSError:
                    closed(s, "closed_rst")
        wait = min([i[1] for i in live.values()] + [deadline]) - now()
        for key, _ in sel.select(timeout=max(0.0, min(wait, 0.2))):
            s = key.fileobj
            if s not in live:
                continue
            try:
                data = s.recv(4096)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                closed(s, "closed_rst")
                continue
            if data:
                live[s][3] += data
                continue
            closed(s, "closed_408" if live[s][3].startswith(b"HTTP/1.1 408") else "closed_eof")
        while len(live) < conns and now() < deadline - 1:
            open_one(now())
    for s in list(live):
        s.close()
    st["still_open_at_end"] = len(live)
    return st


def conn(host, port, rcvbuf=0, mss=0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    if mss:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)
    s.settimeout(5)
    s.connect((host, port))
    return s


def exchange(host, port, payload, read=True):
    """Sends payload (as much as the server takes), returns the status of the
    first answer (0: none, -1: reset) after reading to EOF."""
    s = conn(host, port)
    try:
        try:
            s.sendall(payload)
        except OSError:
            pass  # the server may answer and stop reading before the end
        if not read:
            return 0
        got = b""
        try:
            while len(got) < 65536:
                d = s.recv(65536)
                if not d:
                    break
                got += d
        except ConnectionResetError:
            if not got:
                return -1
        except socket.timeout:
            return -2
        if got.startswith(b"HTTP/1.1 ") and len(got) >= 12:
            return int(got[9:12])
        return 0
    finally:
        s.close()


def rst(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def abuse_worker(host, port, deadline, seed, st, lock):
    rng = random.Random(seed)
    req = b"GET /plaintext HTTP/1.1\r\nHost: soak\r\n\r\n"

    def count(kind, status, ok):
        with lock:
            k = st.setdefault(kind, {"n": 0, "unexpected": 0, "statuses": {}})
            k["n"] += 1
            k["statuses"][str(status)] = k["statuses"].get(str(status), 0) + 1
            if not ok:
                k["unexpected"] += 1

    while now() < deadline:
        kind = rng.choice(["garbage", "big_header", "long_target", "many_fields",
                           "bad_version", "big_length", "big_chunk", "never_read",
                           "rst_pipelined"])
        try:
            if kind == "garbage":
                g = bytes(rng.getrandbits(8) for _ in range(rng.randint(64, 4096)))
                st_ = exchange(host, port, g)
                count(kind, st_, st_ in (400, 0))
            elif kind == "big_header":
                n = rng.choice([64 << 10, 256 << 10, 1 << 20])
                st_ = exchange(host, port, b"GET /plaintext HTTP/1.1\r\nHost: s\r\nX-Big: "
                               + b"a" * n + b"\r\n\r\n")
                count(kind, st_, st_ == 431)
            elif kind == "long_target":
                st_ = exchange(host, port, b"GET /" + b"a" * 4200 + b" HTTP/1.1\r\nHost: s\r\n\r\n")
                count(kind, st_, st_ == 414)
            elif kind == "many_fields":
                st_ = exchange(host, port, b"GET /plaintext HTTP/1.1\r\nHost: s\r\n"
                               + b"".join(b"X-%d: v\r\n" % i for i in range(100)) + b"\r\n")
                count(kind, st_, st_ == 431)
            elif kind == "bad_version":
                st_ = exchange(host, port, b"GET /plaintext HTTP/1.7\r\nHost: s\r\n\r\n")
                count(kind, st_, st_ == 505)
            elif kind == "big_length":
                st_ = exchange(host, port, b"POST /plaintext HTTP/1.1\r\nHost: s\r\n"
                               b"Content-Length: 104857600\r\n\r\n" + b"b" * 65536)
                count(kind, st_, st_ == 413)
            elif kind == "big_chunk":
                # A 16 MiB chunk announced, over --max-body (1 MiB by default).
                st_ = exchange(host, port, b"POST /plaintext HTTP/1.1\r\nHost: s\r\n"
                               b"Transfer-Encoding: chunked\r\n\r\n1000000\r\n" + b"c" * 8192)
                # Only the first answer is recorded: herd answers the request
                # itself (405) as soon as its head is parsed and adds a second,
                # unsolicited 413 once the body goes over the limit (a bug,
                # tests/test_limits_integration.c: max_body_chunked).
                count(kind, st_, st_ in (413, 405))
            elif kind == "never_read":
                s = conn(host, port, rcvbuf=4096, mss=536)
                s.sendall(req * 1000)
                time.sleep(min(3.0, max(0.0, deadline - now())))
                rst(s)
                count(kind, 0, True)
            elif kind == "rst_pipelined":
                s = conn(host, port)
                s.sendall(req * 16)
                rst(s)
                count(kind, 0, True)
        except OSError as e:
            count(kind, type(e).__name__, False)
        time.sleep(0.02)


def abuse(host, port, secs, threads, seed):
    deadline = now() + secs
    st, lock = {}, threading.Lock()
    ts = [threading.Thread(target=abuse_worker, args=(host, port, deadline, seed + i, st, lock))
          for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return st


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["slowloris", "abuse"])
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("secs", type=float)
    ap.add_argument("--conns", type=int, default=100)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=3)
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()
    if a.mode == "slowloris":
        res = slowloris(a.host, a.port, a.secs, min(a.conns, 1000), a.interval)
    else:
        res = abuse(a.host, a.port, a.secs, min(a.threads, 16), a.seed)
    print(json.dumps({a.mode: res}, sort_keys=True))
    sys.stdout.flush()


if __name__ == "__main__":
    main()

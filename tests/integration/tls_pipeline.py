#!/usr/bin/env python3
"""Pipelining over TLS with Python's ssl module (a real client, certificate and
host name verified): sends GET requests for every PATH in ONE write, then
reads that many responses off the same connection, framed by Content-Length.

usage: tls_pipeline.py PORT CAFILE SNI PATH...
prints one line per response: STATUS LENGTH SHA256(body)
then 'extra N': bytes received past the last response (should be 0)."""
import hashlib
import socket
import ssl
import sys


def main():
    port, cafile, sni, paths = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    s = ctx.wrap_socket(raw, server_hostname=sni)
    req = b"".join(b"GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (p.encode(), sni.encode())
                   for p in paths)
    s.sendall(req)
    buf = b""
    for _ in paths:
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                print("closed early")
                return 1
            buf += chunk
        head, buf = buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        while len(buf) < length:
            chunk = s.recv(65536)
            if not chunk:
                print("closed in a body")
                return 1
            buf += chunk
        body, buf = buf[:length], buf[length:]
        print(status, length, hashlib.sha256(body).hexdigest())
    print("extra %d" % len(buf))
    s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

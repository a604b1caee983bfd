#!/usr/bin/python3
"""SMTP test server (aiosmtpd): stores each received message as
<outdir>/<n>.eml (written to a temp name then renamed, so a reader never sees
half a file) and prints "PORT <n>" on stdout once listening on 127.0.0.1."""
import os
import socket
import sys
import time

from aiosmtpd.controller import Controller


class Store:
    def __init__(self, outdir):
        self.outdir = outdir
        self.n = 0

    async def handle_DATA(self, server, session, envelope):
        self.n += 1
        tmp = os.path.join(self.outdir, ".%d.tmp" % self.n)
        with open(tmp, "wb") as f:
            f.write(b"X-Envelope-From: " + envelope.mail_from.encode() + b"\r\n")
            f.write(b"X-Envelope-To: " + ",".join(envelope.rcpt_tos).encode() + b"\r\n")
            f.write(envelope.original_content or envelope.content)
        os.rename(tmp, os.path.join(self.outdir, "%d.eml" % self.n))
        return "250 OK"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def main():
    outdir = sys.argv[1]
    port = free_port()
    ctl = Controller(Store(outdir), hostname="127.0.0.1", port=port)
    ctl.start()
    print("PORT %d" % port, flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        ctl.stop()


if __name__ == "__main__":
    main()

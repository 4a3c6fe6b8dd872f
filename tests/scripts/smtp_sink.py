#!/usr/bin/python3
"""A real SMTP server for tests (aiosmtpd): every message it accepts becomes DIR/<n>.eml.

usage: smtp_sink.py PORT DIR     (listens on 127.0.0.1 until SIGTERM)
"""
import asyncio
import os
import signal
import sys

from aiosmtpd.controller import Controller


class Store:
    def __init__(self, directory):
        self.directory = directory
        self.count = len(os.listdir(directory))

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        path = os.path.join(self.directory, "%06d.eml" % self.count)
        with open(path + ".part", "wb") as f:
            f.write(("X-Envelope-To: %s\r\n" % ",".join(envelope.rcpt_tos)).encode())
            f.write(envelope.original_content or envelope.content)
        os.rename(path + ".part", path)
        return "250 OK"


def main():
    port, directory = int(sys.argv[1]), sys.argv[2]
    controller = Controller(Store(directory), hostname="127.0.0.1", port=port)
    controller.start()
    print("smtp_sink: listening on 127.0.0.1:%d" % port, flush=True)
    stop = asyncio.new_event_loop()
    signal.signal(signal.SIGTERM, lambda *_: stop.call_soon_threadsafe(stop.stop))
    signal.signal(signal.SIGINT, lambda *_: stop.call_soon_threadsafe(stop.stop))
    stop.run_forever()
    controller.stop()


if __name__ == "__main__":
    main()

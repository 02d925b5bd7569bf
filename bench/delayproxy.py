#!/usr/bin/env python3
"""A delay line for TCP on loopback, for the backup benchmark's link delay (issue 19): it holds
every byte a fixed time in each direction before passing it on, as a longer cable would. There
is no tc/netem in the benchmark's kernel, so this is a userspace proxy (asyncio protocols, one
process of its own, so its GIL is not the benchmark's).

- It delays, it does not throttle: data keeps streaming, each chunk is released `delay` after
  it arrived, in order. What is in the line is bounded per direction and connection
  (--window, 16 MiB by default, about what Linux's TCP autotuning allows a connection); past
  it the proxy stops reading that side until the line drains, as a full TCP window would.
- A new connection pays one round trip for its handshake, as on a real link: the client's
  first bytes leave no earlier than two delays after it connected.
- Half-closes and closes travel the line like data.

Run it as `python3 bench/delayproxy.py --upstream PORT --delay-ms 10` (it prints
`listening on PORT` once ready), or through `DelayProxy` from Python, which starts it as a
subprocess and reads its CPU time.
"""

import argparse
import asyncio
import collections
import os
import subprocess
import sys

WINDOW = 16 << 20


class Line:
    """One direction of one connection: a FIFO of (release time, bytes) written to `dst` as
    each chunk's time comes. Pauses its source while more than `window` bytes are in it or
    while `dst` cannot take more."""

    def __init__(self, loop, delay, window, not_before=0.0):
        self.loop = loop
        self.delay = delay
        self.window = window
        self.not_before = not_before
        self.queue = collections.deque()
        self.pending = 0
        self.timer = None
        self.src = None
        self.dst = None
        self.src_paused = False
        self.dst_full = False
        self.eof = False  # the source half-closed or closed: pass that on once drained
        self.closed = False
        self.reverse = None  # the other direction's Line

    def feed(self, data):
        when = max(self.loop.time(), self.not_before) + self.delay
        self.queue.append((when, data))
        self.pending += len(data)
        if self.timer is None:
            self.timer = self.loop.call_at(when, self.release)
        self.flow()

    def end(self):
        """The source sent its last byte; the end leaves after the bytes before it."""
        self.eof = True
        if self.timer is None:
            when = max(self.loop.time(), self.not_before) + self.delay
            self.timer = self.loop.call_at(when, self.release)

    def release(self):
        self.timer = None
        if self.closed or self.dst is None:
            return  # closed, or not connected yet: connection_made calls again
        now = self.loop.time()
        while self.queue and self.queue[0][0] <= now:
            _, data = self.queue.popleft()
            self.pending -= len(data)
            if not self.dst.is_closing():
                self.dst.write(data)
        if self.queue:
            self.timer = self.loop.call_at(self.queue[0][0], self.release)
        elif self.eof and not self.dst.is_closing():
            if self.reverse.eof or not self.dst.can_write_eof():
                self.dst.close()  # both directions ended
            else:
                self.dst.write_eof()
        self.flow()

    def flow(self):
        stop = self.pending > self.window or self.dst_full
        if self.src is None or self.src.is_closing():
            return
        if stop and not self.src_paused:
            self.src.pause_reading()
            self.src_paused = True
        elif not stop and self.src_paused:
            self.src.resume_reading()
            self.src_paused = False

    def close(self):
        self.closed = True
        self.queue.clear()
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


class End(asyncio.Protocol):
    """One socket of a proxied connection: what it reads goes into `out`; `inp` writes to it."""

    def __init__(self, out, inp):
        self.out = out
        self.inp = inp
        self.transport = None
        self.other = None  # the End on the other side, once connected

    def connection_made(self, transport):
        self.transport = transport
        # The line's own window bounds what waits; a small write buffer would pause the source
        # at every burst of a fast sender.
        transport.set_write_buffer_limits(high=4 << 20)
        self.out.src = transport
        self.inp.dst = transport
        self.out.flow()
        if self.inp.timer is None and (self.inp.queue or self.inp.eof):
            self.inp.release()  # bytes that arrived before this side was connected

    def data_received(self, data):
        self.out.feed(data)

    def eof_received(self):
        self.out.end()
        return True  # keep the other direction open (half-close)

    def pause_writing(self):
        self.inp.dst_full = True
        self.inp.flow()

    def resume_writing(self):
        self.inp.dst_full = False
        self.inp.flow()

    def connection_lost(self, exc):
        # What this side sent is still in the line and leaves in time, then the close; what was
        # on its way to this side has nowhere to go.
        self.out.end()
        self.inp.close()


class Client(End):
    """The accepted side: opens the upstream connection, which starts after the handshake's
    round trip."""

    def __init__(self, upstream, delay, window):
        loop = asyncio.get_running_loop()
        up = Line(loop, delay, window, not_before=loop.time() + 2 * delay)
        down = Line(loop, delay, window)
        up.reverse, down.reverse = down, up
        super().__init__(up, down)
        self.upstream = upstream

    def connection_made(self, transport):
        super().connection_made(transport)
        self.connecting = asyncio.get_running_loop().create_task(self.connect())

    async def connect(self):
        loop = asyncio.get_running_loop()
        try:
            await loop.create_connection(lambda: End(self.inp, self.out), "127.0.0.1", self.upstream)
        except OSError:
            self.transport.close()
            return


async def serve(upstream, delay, window, port, ready):
    server = await asyncio.get_running_loop().create_server(
        lambda: Client(upstream, delay, window), "127.0.0.1", port, backlog=1024)
    ready(server.sockets[0].getsockname()[1])
    async with server:
        await server.serve_forever()


class DelayProxy:
    """bench/delayproxy.py as a subprocess in front of 127.0.0.1:`upstream_port`."""

    def __init__(self, upstream_port, delay_ms, window=WINDOW):
        self.delay_ms = delay_ms
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--upstream", str(upstream_port),
             "--delay-ms", str(delay_ms), "--window", str(window)],
            stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("listening on "):
            raise SystemExit(f"delayproxy did not start: {line!r}")
        self.port = int(line.split()[-1])

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self):
        """User + system CPU time the proxy used so far."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--upstream", type=int, required=True, help="port on 127.0.0.1 to forward to")
    ap.add_argument("--delay-ms", type=float, default=10.0, help="delay in each direction (ms)")
    ap.add_argument("--window", type=int, default=WINDOW, help="bytes in the line per direction and connection")
    ap.add_argument("--port", type=int, default=0, help="port to listen on (0: a free one)")
    args = ap.parse_args()

    def ready(port):
        print(f"listening on {port}", flush=True)

    try:
        asyncio.run(serve(args.upstream, args.delay_ms / 1000, args.window, args.port, ready))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

/** TCP reachability: whether something accepts connections on host:port, and waiting until it does (or stops). */
import net from 'node:net';

export function canConnect(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Polls until the port is open (or closed, with `open: false`); false if that did not happen in time. */
export async function waitForPort(host: string, port: number, opts: { seconds: number; open?: boolean }): Promise<boolean> {
  const want = opts.open ?? true;
  const deadline = Date.now() + opts.seconds * 1000;
  while (Date.now() < deadline) {
    if ((await canConnect(host, port, 250)) === want) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

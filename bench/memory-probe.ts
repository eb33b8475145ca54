/**
 * Preloaded into a process a benchmark measures (`node --expose-gc --import tsx --import bench/memory-probe.ts …`):
 * on the message `memory` over the IPC channel it runs a full garbage collection and answers with
 * process.memoryUsage() and the number of open TCP sockets (connected clients plus the process's own PostgreSQL,
 * Redis and Temporal connections). Changes nothing else in the process.
 */
export interface MemoryReport {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  tcpSockets: number;
  gc: boolean;
}

process.on('message', (msg) => {
  if (msg !== 'memory' || !process.send) return;
  // Twice: the first pass runs finalizers whose objects the second one frees.
  global.gc?.();
  global.gc?.();
  const m = process.memoryUsage();
  const tcpSockets = process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
  const report: MemoryReport = { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers, tcpSockets, gc: typeof global.gc === 'function' };
  process.send(report);
});
// The channel must not keep the process alive on its own: the process ends as it would without the probe.
process.channel?.unref();

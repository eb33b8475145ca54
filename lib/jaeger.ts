/**
 * A local Jaeger (v2, the all-in-one `cmd/jaeger` binary the set-up builds into the cache) for `npm start` and the
 * tracing test: traces in memory, OTLP over HTTP in, the UI and query API out, every listener on loopback and on
 * the ports given (so a test's Jaeger never meets `npm start`'s). Its own telemetry and self-tracing are off: they
 * would take port 8888 and export to 4317.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface JaegerPorts {
  /** OTLP/HTTP receiver: processes export to `http://127.0.0.1:<otlpHttp>`. */
  otlpHttp: number;
  /** The UI and the query API (`/api/traces`). */
  ui: number;
  /** The query service's gRPC port (unused here, but it listens). */
  queryGrpc: number;
}

export function jaegerConfig(ports: JaegerPorts): string {
  return `service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    traces:
      level: none
    logs:
      level: error
extensions:
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 100000
  jaeger_query:
    enable_tracing: false
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:${ports.ui}
    grpc:
      endpoint: 127.0.0.1:${ports.queryGrpc}
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:${ports.otlpHttp}
processors:
  batch:
    timeout: 200ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
`;
}

/** Starts `binary` with a config of these ports (written to a temporary file, removed when it exits). */
export function spawnJaeger(binary: string, ports: JaegerPorts): ChildProcess {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gatehouse-jaeger-'));
  const config = path.join(dir, 'config.yaml');
  writeFileSync(config, jaegerConfig(ports));
  const proc = spawn(binary, ['--config', `file:${config}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return proc;
}

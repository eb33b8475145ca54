/**
 * A local Jaeger (v2, the all-in-one `cmd/jaeger` binary the set-up builds into the cache) for `npm start` and the
 * tracing test: traces in memory, OTLP over HTTP in, the UI and query API out, every listener on loopback and on
 * the ports given (so a test's Jaeger never meets `npm start`'s). Its own telemetry and self-tracing are off: they
 * would take port 8888 and export to 4317.
 *
 * A Jaeger built with `go build` has no UI: the release build embeds jaeger-ui, built from its GitHub sources,
 * which neither npm nor the Go module proxy serves. Its query service serves a directory in its place
 * (`ui.assets_path`): Gatehouse's trace viewer (`ops/trace-viewer`, over the same query API), or a built jaeger-ui
 * named by JAEGER_UI_ASSETS.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Gatehouse's trace viewer, the UI Jaeger serves unless it is given another. */
export const TRACE_VIEWER_ASSETS = path.resolve(__dirname, '..', 'ops', 'trace-viewer');

export interface JaegerPorts {
  /** OTLP/HTTP receiver: processes export to `http://127.0.0.1:<otlpHttp>`. */
  otlpHttp: number;
  /** The UI and the query API (`/api/traces`). */
  ui: number;
  /** The query service's gRPC port (unused here, but it listens). */
  queryGrpc: number;
}

export function jaegerConfig(ports: JaegerPorts, uiAssets: string = TRACE_VIEWER_ASSETS): string {
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
    ui:
      assets_path: ${JSON.stringify(uiAssets)}
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
export function spawnJaeger(binary: string, ports: JaegerPorts, uiAssets?: string): ChildProcess {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gatehouse-jaeger-'));
  const config = path.join(dir, 'config.yaml');
  writeFileSync(config, jaegerConfig(ports, uiAssets));
  const proc = spawn(binary, ['--config', `file:${config}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return proc;
}

/**
 * What the agent's terminal host needs of a pseudo-terminal: a real one on Linux (./linux-pty.ts, node-pty's
 * prebuilt binaries) or the simulated endpoint's small shell (./simulated-shell.ts). Output is raw bytes, never
 * decoded here: the recording and the browser get every byte the program wrote.
 */
export interface PtyExit {
  exitCode: number | null;
  signal?: number | null;
}

export interface Pty {
  onData(listener: (data: Buffer) => void): void;
  onExit(listener: (exit: PtyExit) => void): void;
  write(data: string): void;
  resize(cols: number, rows: number): void;
  /** Stops reading the program's output (it blocks once the kernel's buffer fills): backpressure. */
  pause(): void;
  resume(): void;
  /** Whether the terminal echoes input now (off while a program reads a password). */
  echo(): Promise<boolean>;
  kill(): void;
}

export interface PtySize {
  cols: number;
  rows: number;
}

/** Opens a PTY with the device's shell; throws when it cannot. */
export type PtyFactory = (size: PtySize) => Pty;

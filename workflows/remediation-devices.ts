/**
 * The devices a `remediation` run starts: one page of the approved list at a time, from the position the previous
 * run carried. The list is the one authorization recorded on the invocation (`readRemediationDevices` reads it
 * there, never from a workflow payload); inputs recorded before that (and tests) list their devices themselves.
 */
import { local } from './activities';
import type { RemediationInput } from './remediation-state';

export class ApprovedDevices {
  /** Devices of the page read and not started yet, with their position in the approved list. */
  private page: { deviceId: string; position: number }[] = [];
  /** The position just past the page read. */
  private pageEnd: number;
  /** How many devices the list holds (the record's count once a page was read). */
  total: number;
  private readonly skip: Set<string>;

  constructor(
    private readonly input: RemediationInput,
    private readonly invocationId: string,
    private readonly pageSize: number,
    /** Devices that ran as canaries (first, in the first run): not started again where the list has them. */
    canaries: string[],
  ) {
    this.pageEnd = input.carried?.cursor ?? 0;
    this.total = input.deviceCount ?? input.devices.length;
    this.skip = new Set(canaries);
  }

  /** Reads the next page (`pageSize` positions of the list) after the one read before. */
  async readPage(): Promise<void> {
    const from = this.pageEnd;
    let ids: string[];
    if (this.input.deviceCount === undefined) {
      ids = this.input.devices.slice(from, from + this.pageSize);
    } else {
      const read = await local.readRemediationDevices({ orgId: this.input.orgId, invocationId: this.invocationId, offset: from, limit: this.pageSize });
      ids = read.devices;
      this.total = read.total;
    }
    this.page.push(...ids.map((deviceId, i) => ({ deviceId, position: from + i })).filter((d) => !this.skip.has(d.deviceId)));
    this.pageEnd = from + ids.length;
  }

  /** Devices read and not started yet. */
  get queued(): number {
    return this.page.length;
  }

  /** Devices of the list past the page read (the next run reads them). */
  get beyondPage(): boolean {
    return this.pageEnd < this.total;
  }

  /** Takes the next device of the page. */
  next(): string | undefined {
    return this.page.shift()?.deviceId;
  }

  /** Where the next run starts reading: the first device not started. */
  get cursor(): number {
    return this.page[0]?.position ?? this.pageEnd;
  }
}

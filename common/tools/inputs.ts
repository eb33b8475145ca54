/** Input fields several tools share, described once for the model. */
import { z } from 'zod';

export const DeviceId = z.uuid().describe('Device id as returned by list_devices');
export const DeviceIds = z.array(z.uuid()).min(1).max(500).describe('Device ids as returned by list_devices');
export const Reason = z.string().max(500).optional().describe('Why, for the audit log and the approver');
export const Ipv4Cidr = z.string().regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/, 'an IPv4 CIDR such as 192.168.1.0/24');
export const WaitForDevice = z
  .boolean()
  .optional()
  .describe('Only when the user asks to wait for the device: if it is offline, queue the read until it reconnects (up to the command time limit) instead of answering at once with what is known of it');

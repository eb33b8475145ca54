/** How a device is shown outside the database: to the model (list_devices) and to API clients alike. */
export interface DeviceRow {
  id: string;
  name: string;
  hostname: string;
  os: string;
  online: boolean;
  lastSeenAt: Date | null;
  site: { name: string };
  group: { name: string } | null;
}

export function deviceView(d: DeviceRow) {
  return {
    id: d.id,
    name: d.name,
    hostname: d.hostname,
    os: d.os,
    site: d.site.name,
    group: d.group?.name ?? null,
    online: d.online,
    lastSeenAt: d.lastSeenAt?.toISOString() ?? null,
  };
}

-- A connecting agent's credentials are read by device (api/gateway/fleet-batches.ts, a batch of devices at once):
-- without an index each batch read the whole table, so a fleet's return after an api restart cost PostgreSQL a scan
-- of every credential per batch.
CREATE INDEX "DeviceCredential_deviceId_idx" ON "DeviceCredential"("deviceId");

-- The W3C trace context of the activity that queued a device command (OpenTelemetry), so the gateway's delivery
-- and the agent's execution join that trace whichever api node sends it, and whenever. Null when tracing is off.
ALTER TABLE "DeviceCommand" ADD COLUMN "traceparent" TEXT;

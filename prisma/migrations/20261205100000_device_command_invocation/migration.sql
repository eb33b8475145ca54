-- Every device command carries the tool invocation that asked for it and the approval digest it was verified
-- against, so nothing downstream (the gateway signing it, progress counting it) parses the id back or asks again.
ALTER TABLE "DeviceCommand" ADD COLUMN "invocationId" TEXT, ADD COLUMN "approvalDigest" TEXT;

-- Existing rows: the id is `<invocationId>:<deviceId>` (common/ids.ts deviceCommandId).
UPDATE "DeviceCommand"
SET "invocationId" = left("id", length("id") - length("deviceId"::text) - 1)
WHERE right("id", length("deviceId"::text) + 1) = ':' || "deviceId"::text
  AND length("id") > length("deviceId"::text) + 1;

-- And the digest the gateway signed into them: their invocation's approval, when it was approved.
UPDATE "DeviceCommand" c
SET "approvalDigest" = a."digest"
FROM "Approval" a
WHERE a."invocationId" = c."invocationId" AND a."status" = 'approved';

CREATE INDEX "DeviceCommand_invocationId_status_idx" ON "DeviceCommand"("invocationId", "status");

-- A device's name is unique in its organization: the copilot, the console and approvals name devices by it, and two
-- devices of one org with one name (a host enrolled again next to its old record) made "ACME-HQ-DEMO" mean either.
-- Existing duplicates keep the name on one row, chosen the same way on every database: the device seen most recently
-- (never-seen last), then the one created last, then the larger id. Every other row of the group is renamed
-- "<name> (old <first 8 characters of its id>)", which no other device can hold (ids are unique), and the rename is
-- audited in the org's chain.
WITH ranked AS (
  SELECT "id", "orgId", "name",
         row_number() OVER (PARTITION BY "orgId", "name"
                            ORDER BY "lastSeenAt" DESC NULLS LAST, "createdAt" DESC, "id" DESC) AS rank
  FROM "Device"
), renamed AS (
  UPDATE "Device" d SET "name" = left(r."name", 180) || ' (old ' || left(d."id"::text, 8) || ')'
  FROM ranked r
  WHERE d."id" = r."id" AND r.rank > 1
  RETURNING d."id", d."orgId", r."name" AS "oldName", d."name" AS "newName"
)
INSERT INTO "AuditEvent" ("orgId", "actorType", "action", "target", "data")
SELECT "orgId", 'system', 'device.renamed', "newName",
       jsonb_build_object('deviceId', "id", 'from', "oldName", 'reason', 'device names became unique per organization')
FROM renamed;

CREATE UNIQUE INDEX "Device_orgId_name_key" ON "Device"("orgId", "name");

-- A remediation's device commands report to its workflow by signal, in batches, instead of each completing an
-- activity of its own; `reportedAt` now covers both ways of telling the waiting workflow.
ALTER TABLE "DeviceCommand" RENAME COLUMN "activityCompletedAt" TO "reportedAt";
ALTER TABLE "DeviceCommand" ADD COLUMN "reportTo" TEXT;

-- Versioned policy (docs/policy.md): every change of an org's policy is a new row holding the whole document; the
-- current policy is the highest number. The document replaces the override rows and the org's approval-expiry and
-- rate-limit columns (one source of truth); every existing org gets version 1 ("initial") from them.
CREATE TABLE "PolicyVersion" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "orgId" UUID NOT NULL,
    "number" INTEGER NOT NULL,
    "document" JSONB NOT NULL,
    "sha256" TEXT NOT NULL DEFAULT '',
    "kind" TEXT NOT NULL,
    "reason" TEXT NOT NULL,
    "createdBy" UUID,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "PolicyVersion_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "PolicyVersion_number_check" CHECK ("number" >= 1),
    CONSTRAINT "PolicyVersion_kind_check" CHECK ("kind" IN ('initial', 'edit', 'rollback', 'standing-approval', 'standing-revoke'))
);
CREATE UNIQUE INDEX "PolicyVersion_orgId_number_key" ON "PolicyVersion"("orgId", "number");
ALTER TABLE "PolicyVersion" ADD CONSTRAINT "PolicyVersion_orgId_fkey" FOREIGN KEY ("orgId") REFERENCES "Organization"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- The hash is the database's, of the document as jsonb stores it (keys in one order), so equal documents hash
-- equally whoever wrote them; and a version, once written, is history: never changed, never removed.
CREATE FUNCTION gatehouse_policy_version_hash() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW."sha256" := encode(sha256(convert_to(NEW."document"::text, 'UTF8')), 'hex');
  RETURN NEW;
END
$$;
CREATE TRIGGER "PolicyVersion_hash" BEFORE INSERT ON "PolicyVersion" FOR EACH ROW EXECUTE FUNCTION gatehouse_policy_version_hash();
CREATE FUNCTION gatehouse_policy_version_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'policy versions are append-only';
END
$$;
CREATE TRIGGER "PolicyVersion_append_only" BEFORE UPDATE OR DELETE ON "PolicyVersion"
  FOR EACH ROW EXECUTE FUNCTION gatehouse_policy_version_immutable();

ALTER TABLE "PolicyVersion" ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON "PolicyVersion" USING ("orgId" = ANY (gatehouse_org_ids())) WITH CHECK ("orgId" = ANY (gatehouse_org_ids()));

-- Version 1 of every existing org: its overrides, approval expiry and rate limits as they are.
INSERT INTO "PolicyVersion" ("orgId", "number", "document", "kind", "reason", "createdBy")
SELECT o."id", 1,
  jsonb_build_object(
    'overrides', coalesce((SELECT jsonb_agg(jsonb_build_object('tool', p."tool", 'action', p."action", 'tier', p."tier") ORDER BY p."tool", p."action")
                           FROM "PolicyOverride" p WHERE p."orgId" = o."id"), '[]'::jsonb),
    'approvalTtlSeconds', jsonb_build_object('t3', o."approvalTtlT3Seconds", 't4', o."approvalTtlT4Seconds"),
    'rateLimits', jsonb_build_object('userMessagesPerMinute', o."rateUserMessagesPerMinute", 'orgMessagesPerHour', o."rateOrgMessagesPerHour",
                                     'toolCallsPerUser', CASE WHEN jsonb_typeof(o."rateToolCalls") = 'object' THEN o."rateToolCalls" ELSE '{}'::jsonb END),
    'standing', '[]'::jsonb),
  'initial', 'the policy as it was before versions', NULL
FROM "Organization" o;

DROP TABLE "PolicyOverride";
ALTER TABLE "Organization"
  DROP COLUMN "approvalTtlT3Seconds",
  DROP COLUMN "approvalTtlT4Seconds",
  DROP COLUMN "rateUserMessagesPerMinute",
  DROP COLUMN "rateOrgMessagesPerHour",
  DROP COLUMN "rateToolCalls",
  -- A partner admin's allowance for the org's admins to lower a tier below its default (audited when set).
  ADD COLUMN "policyLoweringAllowedBy" UUID,
  ADD COLUMN "policyLoweringAllowedAt" TIMESTAMP(3);

-- What each decision was made under: the policy version, the inputs the policy function read (so a what-if can
-- decide the call again with the same function), and the standing approval that let it through, if one did.
ALTER TABLE "ToolInvocation"
  ADD COLUMN "policyVersion" INTEGER,
  ADD COLUMN "policyInputs" JSONB,
  ADD COLUMN "standingRuleId" UUID;
CREATE INDEX "ToolInvocation_orgId_createdAt_idx" ON "ToolInvocation"("orgId", "createdAt");
ALTER TABLE "Approval"
  ADD COLUMN "policyVersion" INTEGER,
  ADD COLUMN "standingRuleId" UUID;

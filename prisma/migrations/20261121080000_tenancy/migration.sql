-- AlterTable
ALTER TABLE "User" ADD COLUMN     "disabledAt" TIMESTAMP(3),
ADD COLUMN     "partnerAdmin" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "passwordHash" TEXT;

-- AlterTable
ALTER TABLE "RoleBinding" ADD COLUMN     "siteIds" UUID[] DEFAULT ARRAY[]::UUID[];

-- CreateTable
CREATE TABLE "web_session" (
    "sid" VARCHAR NOT NULL,
    "sess" JSON NOT NULL,
    "expire" TIMESTAMP(6) NOT NULL,

    CONSTRAINT "web_session_pkey" PRIMARY KEY ("sid")
);

-- CreateIndex
CREATE INDEX "web_session_expire_idx" ON "web_session"("expire");


-- Row-level security: the second wall behind the scoping helper. Request handling and the copilot's tools run their
-- queries as gatehouse_app with the caller's organizations set for the transaction (lib/tenant-db.ts); a query that
-- forgets its org condition still sees only those organizations' rows. System work (migrations, the worker's
-- bookkeeping, the agent gateway) keeps the connecting role, which owns the tables and is not subject to RLS.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gatehouse_app') THEN
    CREATE ROLE gatehouse_app NOLOGIN NOSUPERUSER NOBYPASSRLS;
  END IF;
END
$$;
GRANT gatehouse_app TO CURRENT_USER;
GRANT USAGE ON SCHEMA public TO gatehouse_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO gatehouse_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO gatehouse_app;
REVOKE ALL ON "_prisma_migrations" FROM gatehouse_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO gatehouse_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO gatehouse_app;

-- The organizations and partner of the transaction; unset means none (fail closed).
CREATE FUNCTION gatehouse_org_ids() RETURNS uuid[] LANGUAGE sql STABLE AS $$
  SELECT coalesce(string_to_array(nullif(current_setting('app.org_ids', true), ''), ',')::uuid[], '{}'::uuid[])
$$;
CREATE FUNCTION gatehouse_partner_id() RETURNS uuid LANGUAGE sql STABLE AS $$
  SELECT nullif(current_setting('app.partner_id', true), '')::uuid
$$;

DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY[
    'Site', 'DeviceGroup', 'Device', 'RoleBinding', 'EnrollmentKey', 'CopilotSession', 'Message', 'ToolInvocation',
    'DeviceCommand', 'AuditEvent', 'Approval', 'ApprovalLink', 'PolicyOverride', 'Alert', 'DeviceNote', 'Script',
    'OrgBudget', 'SpendCounter', 'BudgetReservation', 'SlackChannel', 'NetworkScan'
  ] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format(
      'CREATE POLICY tenant_isolation ON %I USING ("orgId" = ANY (gatehouse_org_ids())) WITH CHECK ("orgId" = ANY (gatehouse_org_ids()))',
      t
    );
  END LOOP;
END
$$;

ALTER TABLE "Organization" ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON "Organization" USING ("id" = ANY (gatehouse_org_ids()));

ALTER TABLE "Partner" ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON "Partner" USING ("id" = gatehouse_partner_id());

ALTER TABLE "User" ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON "User" USING ("partnerId" = gatehouse_partner_id());

ALTER TABLE "ApiKey" ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON "ApiKey" USING ("userId" IN (SELECT "id" FROM "User"));

ALTER TABLE "DeviceCredential" ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON "DeviceCredential" USING ("deviceId" IN (SELECT "id" FROM "Device"));

ALTER TABLE "SlackUserLink" ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON "SlackUserLink" USING ("userId" IN (SELECT "id" FROM "User"));

-- Sign-in sessions are read by the session store as the connecting role only.
REVOKE ALL ON "web_session" FROM gatehouse_app;

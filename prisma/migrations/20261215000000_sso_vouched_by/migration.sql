-- Who registered each identity provider, and the registrants of the providers each user signed in through: a sign-in
-- through a provider is on its registrant's word, so for T4 approvals the user counts as set up by them
-- (lib/approval-authority.ts vouchedByAuthors).
ALTER TABLE "OidcProvider" ADD COLUMN "createdBy" UUID;
ALTER TABLE "User" ADD COLUMN "ssoVouchedBy" UUID[] DEFAULT ARRAY[]::UUID[];

-- Providers registered before: their registrant is the actor of their audit event.
UPDATE "OidcProvider" p SET "createdBy" = (
  SELECT e."actorId"::uuid FROM "AuditEvent" e
  WHERE e."action" = 'oidc_provider.created' AND e."data" ->> 'providerId' = p."id"::text
    AND e."actorId" ~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
  ORDER BY e."createdAt" LIMIT 1);

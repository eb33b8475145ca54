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

-- Users who signed in through a provider before: from the sign-ins' audit events, the registrant of each provider
-- (by its own audit event, so a provider removed since still counts).
UPDATE "User" u SET "ssoVouchedBy" = v."by"
FROM (
  SELECT s."actorId" AS "userId", array_agg(DISTINCT c."actorId"::uuid) AS "by"
  FROM "AuditEvent" s
  JOIN "AuditEvent" c ON c."action" = 'oidc_provider.created' AND c."data" ->> 'providerId' = s."data" ->> 'providerId'
    AND c."actorId" ~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
  WHERE s."action" = 'auth.signed_in' AND s."data" ->> 'method' = 'oidc' AND s."actorId" IS NOT NULL
  GROUP BY s."actorId"
) v
WHERE u."id"::text = v."userId";

-- OAuth 2.1 for MCP clients: self-registered clients, authorization requests (consent, then a one-time code),
-- grants (a user lets a client act as them in chosen orgs with chosen scopes) and their tokens, all secrets hashed.
-- User-level like passkeys and API keys (no org column; a grant names its orgs): read by the system client at
-- authentication, no row-level policy. A tool call made with a grant's token names it.
ALTER TABLE "WorkflowRequest" ADD COLUMN "oauthGrantId" UUID;

CREATE TABLE "OAuthClient" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "redirectUris" TEXT[],
    "metadata" JSONB NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "OAuthClient_pkey" PRIMARY KEY ("id")
);

CREATE TABLE "OAuthAuthorization" (
    "id" UUID NOT NULL,
    "requestHash" TEXT NOT NULL,
    "clientId" TEXT NOT NULL,
    "redirectUri" TEXT NOT NULL,
    "codeChallenge" TEXT NOT NULL,
    "scopes" TEXT[],
    "state" TEXT,
    "resource" TEXT NOT NULL,
    "expiresAt" TIMESTAMP(3) NOT NULL,
    "grantId" UUID,
    "codeHash" TEXT,
    "usedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "OAuthAuthorization_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "OAuthAuthorization_requestHash_key" ON "OAuthAuthorization"("requestHash");
CREATE UNIQUE INDEX "OAuthAuthorization_codeHash_key" ON "OAuthAuthorization"("codeHash");

CREATE TABLE "OAuthGrant" (
    "id" UUID NOT NULL,
    "userId" UUID NOT NULL,
    "clientId" TEXT NOT NULL,
    "orgIds" UUID[],
    "scopes" TEXT[],
    "resource" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastUsedAt" TIMESTAMP(3),
    "revokedAt" TIMESTAMP(3),
    "revokedWhy" TEXT,
    CONSTRAINT "OAuthGrant_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "OAuthGrant_userId_idx" ON "OAuthGrant"("userId");
ALTER TABLE "OAuthGrant" ADD CONSTRAINT "OAuthGrant_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "OAuthGrant" ADD CONSTRAINT "OAuthGrant_clientId_fkey" FOREIGN KEY ("clientId") REFERENCES "OAuthClient"("id") ON DELETE CASCADE ON UPDATE CASCADE;

CREATE TABLE "OAuthToken" (
    "id" UUID NOT NULL,
    "grantId" UUID NOT NULL,
    "kind" TEXT NOT NULL,
    "hash" TEXT NOT NULL,
    "scopes" TEXT[],
    "expiresAt" TIMESTAMP(3) NOT NULL,
    "usedAt" TIMESTAMP(3),
    "revokedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "OAuthToken_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "OAuthToken_kind_check" CHECK ("kind" IN ('access', 'refresh'))
);
CREATE UNIQUE INDEX "OAuthToken_hash_key" ON "OAuthToken"("hash");
CREATE INDEX "OAuthToken_grantId_idx" ON "OAuthToken"("grantId");
ALTER TABLE "OAuthToken" ADD CONSTRAINT "OAuthToken_grantId_fkey" FOREIGN KEY ("grantId") REFERENCES "OAuthGrant"("id") ON DELETE CASCADE ON UPDATE CASCADE;

GRANT SELECT, INSERT, UPDATE, DELETE ON "OAuthClient", "OAuthAuthorization", "OAuthGrant", "OAuthToken" TO gatehouse_app;

-- OIDC sign-in: a partner's identity providers, the sign-ins started at them (state, nonce, PKCE; used once), and
-- the partner's switch that turns password sign-in off.
ALTER TABLE "Partner" ADD COLUMN "localPasswords" BOOLEAN NOT NULL DEFAULT true;

CREATE TABLE "OidcProvider" (
    "id" UUID NOT NULL,
    "partnerId" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "issuer" TEXT NOT NULL,
    "clientId" TEXT NOT NULL,
    "clientSecret" TEXT NOT NULL,
    "emailDomains" TEXT[],
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "OidcProvider_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "OidcProvider_partnerId_idx" ON "OidcProvider"("partnerId");
ALTER TABLE "OidcProvider" ADD CONSTRAINT "OidcProvider_partnerId_fkey" FOREIGN KEY ("partnerId") REFERENCES "Partner"("id") ON DELETE CASCADE ON UPDATE CASCADE;

CREATE TABLE "OidcLogin" (
    "id" UUID NOT NULL,
    "providerId" UUID NOT NULL,
    "stateHash" TEXT NOT NULL,
    "nonce" TEXT NOT NULL,
    "codeVerifier" TEXT NOT NULL,
    "returnTo" TEXT NOT NULL,
    "expiresAt" TIMESTAMP(3) NOT NULL,
    "usedAt" TIMESTAMP(3),
    "idTokenHash" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "OidcLogin_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "OidcLogin_stateHash_key" ON "OidcLogin"("stateHash");
CREATE UNIQUE INDEX "OidcLogin_idTokenHash_key" ON "OidcLogin"("idTokenHash");
ALTER TABLE "OidcLogin" ADD CONSTRAINT "OidcLogin_providerId_fkey" FOREIGN KEY ("providerId") REFERENCES "OidcProvider"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- A partner's providers are the partner's, like its users.
ALTER TABLE "OidcProvider" ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON "OidcProvider" USING ("partnerId" = gatehouse_partner_id()) WITH CHECK ("partnerId" = gatehouse_partner_id());
GRANT SELECT, INSERT, UPDATE, DELETE ON "OidcProvider" TO gatehouse_app;
-- Sign-ins in progress belong to no one yet; only the connecting role (the sign-in pages) reads them, as with web
-- sessions and password resets. The default privileges granted the fenced app role access: take it back.
REVOKE ALL ON "OidcLogin" FROM gatehouse_app;

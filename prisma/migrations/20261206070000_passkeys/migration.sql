-- Passkeys: users register WebAuthn credentials; approving a T4 call (and a T3 one where the org asks) needs a
-- fresh assertion whose challenge is derived from the approval's digest, stored with the decision.
ALTER TABLE "Organization" ADD COLUMN "passkeysForT3" BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE "Approval" ADD COLUMN "passkeyAssertion" JSONB;

CREATE TABLE "PasskeyCredential" (
    "id" UUID NOT NULL,
    "userId" UUID NOT NULL,
    "credentialId" TEXT NOT NULL,
    "publicKey" TEXT NOT NULL,
    "counter" BIGINT NOT NULL DEFAULT 0,
    "transports" TEXT[],
    "name" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastUsedAt" TIMESTAMP(3),
    "removedAt" TIMESTAMP(3),
    CONSTRAINT "PasskeyCredential_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "PasskeyCredential_credentialId_key" ON "PasskeyCredential"("credentialId");
ALTER TABLE "PasskeyCredential" ADD CONSTRAINT "PasskeyCredential_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;

CREATE TABLE "PasskeyChallenge" (
    "id" UUID NOT NULL,
    "userId" UUID NOT NULL,
    "kind" TEXT NOT NULL,
    "approvalId" UUID,
    "nonce" TEXT,
    "challenge" TEXT NOT NULL,
    "expiresAt" TIMESTAMP(3) NOT NULL,
    "usedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "PasskeyChallenge_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "PasskeyChallenge_kind_check" CHECK ("kind" IN ('registration', 'approval')),
    CONSTRAINT "PasskeyChallenge_approval_check" CHECK (("kind" = 'approval') = ("approvalId" IS NOT NULL AND "nonce" IS NOT NULL))
);
CREATE UNIQUE INDEX "PasskeyChallenge_challenge_key" ON "PasskeyChallenge"("challenge");
CREATE INDEX "PasskeyChallenge_userId_kind_idx" ON "PasskeyChallenge"("userId", "kind");
GRANT SELECT, INSERT, UPDATE, DELETE ON "PasskeyCredential", "PasskeyChallenge" TO gatehouse_app;

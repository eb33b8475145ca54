-- CreateTable
CREATE TABLE "SlackLinkRequest" (
    "id" UUID NOT NULL,
    "teamId" TEXT NOT NULL,
    "slackUserId" TEXT NOT NULL,
    "tokenHash" TEXT NOT NULL,
    "expiresAt" TIMESTAMP(3) NOT NULL,
    "usedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "SlackLinkRequest_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "SlackLinkRequest_tokenHash_key" ON "SlackLinkRequest"("tokenHash");

-- CreateIndex
CREATE INDEX "SlackLinkRequest_teamId_slackUserId_idx" ON "SlackLinkRequest"("teamId", "slackUserId");

-- Pending links belong to no tenant; only the connecting role (the Slack routes and the confirmation page) reads
-- them, as with web sessions. The default privileges granted the fenced app role access: take it back.
REVOKE ALL ON "SlackLinkRequest" FROM gatehouse_app;

-- Links made before this migration were made on an org admin's word, without the person they name ever proving
-- the Slack account is theirs (audit 2026-12 F2). Such a link is no identity: drop them; their owners link again
-- with `/gatehouse link`.
DELETE FROM "SlackUserLink";

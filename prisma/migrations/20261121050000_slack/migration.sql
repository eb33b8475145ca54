-- AlterTable
ALTER TABLE "Approval" ADD COLUMN     "recordedAt" TIMESTAMP(3),
ADD COLUMN     "slackChannel" TEXT,
ADD COLUMN     "slackTs" TEXT,
ADD COLUMN     "slackUpdatedAt" TIMESTAMP(3);

-- CreateTable
CREATE TABLE "SlackChannel" (
    "orgId" UUID NOT NULL,
    "teamId" TEXT NOT NULL,
    "channelId" TEXT NOT NULL,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "SlackChannel_pkey" PRIMARY KEY ("orgId")
);

-- CreateTable
CREATE TABLE "SlackUserLink" (
    "id" UUID NOT NULL,
    "teamId" TEXT NOT NULL,
    "slackUserId" TEXT NOT NULL,
    "userId" UUID NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "SlackUserLink_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "SlackUserLink_teamId_slackUserId_key" ON "SlackUserLink"("teamId", "slackUserId");


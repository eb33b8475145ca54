-- API keys expire: new ones 90 days after creation unless asked otherwise (at most a year). Keys made before this
-- have no expiry until they are revoked and replaced.
ALTER TABLE "ApiKey" ADD COLUMN "expiresAt" TIMESTAMP(3);

-- AlterTable
ALTER TABLE "Organization" ADD COLUMN     "emailLinksNeedSignIn" BOOLEAN NOT NULL DEFAULT false;

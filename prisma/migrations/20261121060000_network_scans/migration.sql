-- CreateTable
CREATE TABLE "NetworkScan" (
    "id" TEXT NOT NULL,
    "orgId" UUID NOT NULL,
    "deviceId" UUID NOT NULL,
    "cidr" TEXT NOT NULL,
    "scanned" INTEGER NOT NULL,
    "hosts" JSONB NOT NULL,
    "scannedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "NetworkScan_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "NetworkScan_orgId_cidr_scannedAt_idx" ON "NetworkScan"("orgId", "cidr", "scannedAt");


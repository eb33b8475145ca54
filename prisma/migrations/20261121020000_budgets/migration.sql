-- CreateTable
CREATE TABLE "OrgBudget" (
    "orgId" UUID NOT NULL,
    "dailyLimitMicros" BIGINT NOT NULL,
    "monthlyLimitMicros" BIGINT NOT NULL,
    "hourlyLimitMicros" BIGINT NOT NULL,
    "updatedBy" UUID NOT NULL,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "OrgBudget_pkey" PRIMARY KEY ("orgId")
);

-- CreateTable
CREATE TABLE "SpendCounter" (
    "orgId" UUID NOT NULL,
    "period" TEXT NOT NULL,
    "spentMicros" BIGINT NOT NULL DEFAULT 0,
    "reservedMicros" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "SpendCounter_pkey" PRIMARY KEY ("orgId","period")
);

-- CreateTable
CREATE TABLE "BudgetReservation" (
    "id" TEXT NOT NULL,
    "orgId" UUID NOT NULL,
    "sessionId" UUID,
    "model" TEXT NOT NULL,
    "amountMicros" BIGINT NOT NULL,
    "actualMicros" BIGINT,
    "status" TEXT NOT NULL,
    "day" TEXT NOT NULL,
    "month" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "closedAt" TIMESTAMP(3),

    CONSTRAINT "BudgetReservation_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "BudgetReservation_status_createdAt_idx" ON "BudgetReservation"("status", "createdAt");


-- What authorization decided may run, and the digest its approval must match. Invocations authorized before this
-- migration have neither: their commands are refused (fail closed), and such a call has to be asked for again.
ALTER TABLE "ToolInvocation" ADD COLUMN "execution" JSONB;
ALTER TABLE "ToolInvocation" ADD COLUMN "digest" TEXT;

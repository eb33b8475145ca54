-- A continue after a failed canary of a T4 remediation carries the T4 proof (docs/policy.md): the typed
-- confirmation phrase and the passkey assertion, recorded with the request; the workflow's activity checks them again.
ALTER TABLE "WorkflowRequest" ADD COLUMN "confirmation" TEXT;
ALTER TABLE "WorkflowRequest" ADD COLUMN "passkeyAssertion" JSONB;

-- Its passkey challenge: derived from the remediation's approval (digest, id) and a nonce like an approval's, under
-- another domain, so neither assertion can stand for the other.
ALTER TABLE "PasskeyChallenge" DROP CONSTRAINT "PasskeyChallenge_kind_check";
ALTER TABLE "PasskeyChallenge" ADD CONSTRAINT "PasskeyChallenge_kind_check" CHECK ("kind" IN ('registration', 'approval', 'canary_continue'));
ALTER TABLE "PasskeyChallenge" DROP CONSTRAINT "PasskeyChallenge_approval_check";
ALTER TABLE "PasskeyChallenge" ADD CONSTRAINT "PasskeyChallenge_approval_check"
  CHECK (("kind" IN ('approval', 'canary_continue')) = ("approvalId" IS NOT NULL AND "nonce" IS NOT NULL));

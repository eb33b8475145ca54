-- Who wrote each user message: the author of the turn. A T4 call may not be approved by anyone who wrote a turn
-- of its session (lib/approval-authority.ts), and an approval names the turn's author as its requester. Rows
-- written before this column stay null; the session's owner still counts as an author of those.

-- AlterTable
ALTER TABLE "Message" ADD COLUMN "userId" UUID;

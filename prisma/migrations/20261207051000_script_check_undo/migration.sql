-- A library script may declare the script that checks it worked (a canary's read-back: it must exit 0) and the
-- script that undoes it (a canary's roll back): names of other scripts of the same org's library, looked up when a
-- call is authorized. The table keeps its row-level security.
ALTER TABLE "Script" ADD COLUMN "checkScript" TEXT;
ALTER TABLE "Script" ADD COLUMN "undoScript" TEXT;

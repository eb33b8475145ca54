-- AuditEvent becomes append-only and hash-chained per org.
--
-- Each event's hash is SHA-256 over netstring-encoded fields (byte length, ':', value, or '-' for NULL), so no two
-- different rows can encode to the same text:
--   prevHash, seq, id, orgId, actorType, actorId, action, target, sessionId, createdAt (epoch ms), data::text
-- lib/audit-chain.ts recomputes it independently, and `npm run audit -- verify` reports the first broken link.

ALTER TABLE "AuditEvent" ADD COLUMN     "hash" TEXT NOT NULL DEFAULT '',
ADD COLUMN     "prevHash" TEXT NOT NULL DEFAULT '',
ADD COLUMN     "seq" BIGINT NOT NULL DEFAULT 0,
ADD COLUMN     "sessionId" UUID;

CREATE FUNCTION audit_netstring(v TEXT) RETURNS TEXT LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN v IS NULL THEN '-' ELSE octet_length(v) || ':' || v END
$$;

CREATE FUNCTION audit_event_hash(prev TEXT, seq BIGINT, id BIGINT, org UUID, actor_type TEXT, actor_id TEXT,
                                 action TEXT, target TEXT, session UUID, created TIMESTAMP(3), data JSONB)
RETURNS TEXT LANGUAGE sql IMMUTABLE AS $$
  SELECT encode(sha256(convert_to(
    audit_netstring(prev) || audit_netstring(seq::text) || audit_netstring(id::text) || audit_netstring(org::text) ||
    audit_netstring(actor_type) || audit_netstring(actor_id) || audit_netstring(action) || audit_netstring(target) ||
    audit_netstring(session::text) || audit_netstring(((extract(epoch FROM created) * 1000)::bigint)::text) ||
    audit_netstring(data::text), 'UTF8')), 'hex')
$$;

-- Chain the events written before this migration, per org in id order.
DO $$
DECLARE
  r RECORD;
  prev_org UUID;
  first BOOLEAN := TRUE;
  prev_hash TEXT;
  n BIGINT;
BEGIN
  FOR r IN SELECT * FROM "AuditEvent" ORDER BY "orgId" NULLS FIRST, id LOOP
    IF first OR r."orgId" IS DISTINCT FROM prev_org THEN
      prev_hash := repeat('0', 64);
      n := 0;
      prev_org := r."orgId";
      first := FALSE;
    END IF;
    n := n + 1;
    UPDATE "AuditEvent" SET "seq" = n, "prevHash" = prev_hash,
      "hash" = audit_event_hash(prev_hash, n, r.id, r."orgId", r."actorType", r."actorId", r.action, r.target, r."sessionId", r."createdAt", r.data)
    WHERE id = r.id
    RETURNING "hash" INTO prev_hash;
  END LOOP;
END $$;

CREATE INDEX "AuditEvent_sessionId_idx" ON "AuditEvent"("sessionId");
CREATE UNIQUE INDEX "AuditEvent_orgId_seq_key" ON "AuditEvent"("orgId", "seq");

-- New events: the next seq and the previous hash of the org's chain, under a per-org transaction lock so two
-- concurrent inserts cannot take the same link.
CREATE FUNCTION audit_event_chain() RETURNS TRIGGER LANGUAGE plpgsql AS $$
DECLARE
  last RECORD;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended('gatehouse.audit-chain:' || coalesce(NEW."orgId"::text, ''), 0));
  SELECT "seq", "hash" INTO last FROM "AuditEvent"
    WHERE "orgId" IS NOT DISTINCT FROM NEW."orgId" ORDER BY "seq" DESC LIMIT 1;
  NEW."seq" := coalesce(last."seq", 0) + 1;
  NEW."prevHash" := coalesce(last."hash", repeat('0', 64));
  NEW."hash" := audit_event_hash(NEW."prevHash", NEW."seq", NEW.id, NEW."orgId", NEW."actorType", NEW."actorId",
                                 NEW.action, NEW.target, NEW."sessionId", NEW."createdAt", NEW.data);
  RETURN NEW;
END $$;

CREATE TRIGGER audit_event_chain BEFORE INSERT ON "AuditEvent" FOR EACH ROW EXECUTE FUNCTION audit_event_chain();

-- Append-only: no UPDATE, DELETE or TRUNCATE, whoever asks.
CREATE FUNCTION audit_event_append_only() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'AuditEvent is append-only: % is not allowed', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON "AuditEvent"
  FOR EACH ROW EXECUTE FUNCTION audit_event_append_only();
CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON "AuditEvent"
  FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only();

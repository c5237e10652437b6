-- trunkd schema, version 8: idempotent retries (issue 20, item 3).
-- A POST, PUT or DELETE with an Idempotency-Key header claims (scope, key) in the transaction
-- that does its work, so the work is never committed without its key or the reverse. scope is
-- the caller's project (its user when it has none). fingerprint is a SHA-256 of the method,
-- path, query and body: the same key with another request is refused. The answer (status,
-- content type, body) is recorded once the response is rendered, right after the commit; until
-- then a retry waits for it. Rows older than idempotency_retention (24 h) count as absent, are
-- taken over by a new claim and are pruned.
CREATE TABLE idempotency_keys (
    scope                TEXT NOT NULL,
    idempotency_key      TEXT NOT NULL,
    fingerprint          TEXT NOT NULL,
    request_id           TEXT NOT NULL,
    created_at_ms        BIGINT NOT NULL,
    answer_status        BIGINT,
    answer_content_type  TEXT,
    answer_body          TEXT,
    PRIMARY KEY (scope, idempotency_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at_ms);

-- One vote per message per client (a hashed per-browser or per-API-client id; a re-vote replaces the client's own),
-- one blind vote per pair of answers per client, and conversations bound to their owner's secret token.
-- Votes from before this migration count as one client, 'legacy'.
ALTER TABLE feedback ADD COLUMN client text NOT NULL DEFAULT 'legacy';
ALTER TABLE feedback DROP CONSTRAINT feedback_pkey;
ALTER TABLE feedback ADD PRIMARY KEY (message_id, client);

ALTER TABLE ab_votes ADD COLUMN client text NOT NULL DEFAULT 'legacy';
DELETE FROM ab_votes v USING ab_votes w
WHERE v.message_a = w.message_a AND v.message_b = w.message_b AND v.id < w.id;
CREATE UNIQUE INDEX ab_votes_one_per_client ON ab_votes (message_a, message_b, client);

-- sha256 of the token handed to whoever started the conversation; NULL (older ones): nobody can append.
ALTER TABLE conversations ADD COLUMN token_sha256 bytea;

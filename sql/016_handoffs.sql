-- Handoffs to a person: a question the bot could not (or should not) answer, with what the user saw, queued for
-- delivery to the support desk's webhook (RAGBOT_HANDOFF_URL) until delivered, then answered by an agent. An
-- agent's answer is a question-answer pair that joins the reviewable QA data once an admin approves it.
CREATE TABLE handoffs (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    conversation_id  uuid REFERENCES conversations(id) ON DELETE SET NULL,
    message_id       uuid REFERENCES messages(id) ON DELETE SET NULL,   -- the answer the user handed off, if any
    collection       text NOT NULL,
    question         text NOT NULL,
    conversation     jsonb NOT NULL DEFAULT '[]'::jsonb,  -- [{question, answer}] as the user saw them
    sources          jsonb NOT NULL DEFAULT '[]'::jsonb,  -- the sources shown with the last answer
    contact          text NOT NULL DEFAULT '',
    reason           text NOT NULL DEFAULT 'asked' CHECK (reason IN ('asked', 'abstained')),
    status           text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'delivered', 'answered')),
    attempts         integer NOT NULL DEFAULT 0,
    last_error       text NOT NULL DEFAULT '',
    delivered_at     timestamptz,
    answer           text NOT NULL DEFAULT '',
    answered_by      text NOT NULL DEFAULT '',
    answered_at      timestamptz,
    review           text NOT NULL DEFAULT 'pending' CHECK (review IN ('pending', 'approved', 'rejected')),
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX handoffs_status ON handoffs (status, created_at);
CREATE INDEX handoffs_created ON handoffs (created_at);

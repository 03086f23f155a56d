-- Conversations, messages, thumbs votes and blind A/B votes: what users asked, got and thought of it.
CREATE TABLE conversations (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    title       text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE messages (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    conversation_id      uuid NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    question             text NOT NULL,
    answer               text NOT NULL,
    generator            text NOT NULL,
    collection           text NOT NULL,
    search_query         text NOT NULL DEFAULT '',
    sources              jsonb NOT NULL DEFAULT '[]'::jsonb,
    not_covered          boolean NOT NULL DEFAULT false,
    top_similarity       real,
    seconds              real NOT NULL DEFAULT 0,
    first_token_seconds  real,
    created_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX messages_conversation ON messages (conversation_id, created_at);
CREATE INDEX messages_created ON messages (created_at);

CREATE TABLE feedback (
    message_id  uuid PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    vote        smallint NOT NULL CHECK (vote IN (-1, 1)),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ab_votes (
    id          bigserial PRIMARY KEY,
    message_a   uuid NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    message_b   uuid NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    winner      text NOT NULL CHECK (winner IN ('a', 'b', 'tie')),
    created_at  timestamptz NOT NULL DEFAULT now()
);

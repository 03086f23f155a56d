-- Trained LoRA adapters: the files live in RAGBOT_HOME/adapters/<name>/ (PEFT format + manifest.json);
-- this table registers them and marks at most one as the active (default) fine-tuned generator.
CREATE TABLE adapters (
    name        text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    path        text NOT NULL,
    base_model  text NOT NULL,
    quant       text NOT NULL DEFAULT 'none' CHECK (quant IN ('nf4', 'int8', 'none')),
    manifest    jsonb NOT NULL DEFAULT '{}'::jsonb,
    active      boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now()
);
-- At most one active adapter.
CREATE UNIQUE INDEX adapters_one_active ON adapters (active) WHERE active;

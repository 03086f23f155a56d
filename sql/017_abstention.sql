-- Calibrated abstention (chatbot/abstention.py): per collection, the best cosine similarity a question's
-- retrieved chunks must reach before any generator answers it; below it the bot says the documents do not cover
-- the question and offers a person. Calibrated without labels from the store itself (titles and headings as
-- answerable, other collections' and a shipped set of general questions as not), or from a QA file, whenever the
-- fusion is; NULL: not calibrated, RAGBOT_RELEVANCE_THRESHOLD applies.
ALTER TABLE collections
    ADD COLUMN abstain_threshold real CHECK (abstain_threshold BETWEEN -1 AND 1),
    ADD COLUMN abstention        jsonb;

-- The vector arm blends each hit with its section's lead: the first chunk of the same document with the same
-- heading. Through UNIQUE (document_id, ordinal) that lookup walked the document's chunks in order until the heading
-- matched (a 3,000-chunk manual: 17.8 ms per query); this index makes it one probe. Headings are indexed by their
-- md5: a heading can be longer than a btree entry may be.
CREATE INDEX chunks_section_lead ON chunks (document_id, (md5(coalesce(metadata ->> 'heading', ''))), ordinal);

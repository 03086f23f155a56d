-- Websites ingested by `ragbot ingest URL` (a sitemap or a start page), kept in sync: each source's options (so that a
-- re-sync repeats them), its last sync, and per page the validators (ETag, Last-Modified) that let a re-sync skip an
-- unchanged page, the in-scope links it had (a crawl goes on through a page answered 304), and the document it made
-- (its source is the page's canonical URL; several URLs may share one).
CREATE TABLE web_sources (
    id            bigserial PRIMARY KEY,
    collection_id bigint NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    url           text NOT NULL,
    kind          text CHECK (kind IN ('sitemap', 'crawl')),
    options       jsonb NOT NULL DEFAULT '{}'::jsonb,
    last_sync_at  timestamptz NOT NULL DEFAULT now(),
    last_report   jsonb NOT NULL DEFAULT '{}'::jsonb,
    UNIQUE (collection_id, url)
);

CREATE TABLE web_pages (
    web_source_id   bigint NOT NULL REFERENCES web_sources(id) ON DELETE CASCADE,
    url             text NOT NULL,
    document_source text,
    etag            text,
    last_modified   text,
    links           text[] NOT NULL DEFAULT '{}',
    fetched_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (web_source_id, url)
);

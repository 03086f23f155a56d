"""Admin → Documents: add a website (a sitemap URL or a start page) and re-sync one, with the same report as uploads."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr

from chatbot.queue.builtin_tasks import submit_web_sync
from chatbot.queue.records import JobRefused
from chatbot.queue.service import JobQueue
from chatbot.storage.db import DatabaseError
from chatbot.storage.web_store import WebSources
from chatbot.ui.formatting import ingest_outcome
from ingestion.web_crawl import CrawlOptions

UI_WAIT_S = 600.0  # an ingest or a sync started here is waited for this long, then left to Admin → Jobs


@dataclass(frozen=True)
class WebsiteInputs:
    url: gr.Textbox
    add: gr.Button
    sources: gr.Dropdown
    resync: gr.Button
    prune: gr.Checkbox


def build_website_inputs() -> WebsiteInputs:
    """The section's components (laid out where it is called)."""
    gr.Markdown("### Add a website\nA sitemap URL, or a start page crawled within its host and path; robots.txt "
                "is honoured and unchanged pages are skipped on a re-sync.")
    with gr.Row():
        url = gr.Textbox(label="Sitemap or start page URL", placeholder="https://help.example.com/sitemap.xml",
                         max_lines=1, scale=3, elem_id="admin-web-url")
        add = gr.Button("Add and sync", scale=1, elem_id="admin-web-add")
    with gr.Row():
        sources = gr.Dropdown([], label="Websites", scale=3, elem_id="admin-web-sources")
        resync = gr.Button("Re-sync", scale=1, elem_id="admin-web-resync")
    prune = gr.Checkbox(False, label="Remove pages gone from the site (404/410, or no longer in its sitemap)",
                        elem_id="admin-web-prune")
    return WebsiteInputs(url, add, sources, resync, prune)


def wire_websites(web_sources: WebSources, jobs: JobQueue, queued_by: str, default: str, inputs: WebsiteInputs,
                  collection: gr.Textbox, outputs: list[gr.components.Component],
                  listing: Callable[[], tuple]) -> None:
    """A sync is a job (a worker runs it; one per website and collection at a time), waited for `UI_WAIT_S`;
    `default`: the default collection; `outputs`: the report summary, the failures table, then what `listing`
    fills."""

    def choices() -> gr.Dropdown:
        found = web_sources.list_sources()
        return gr.update(choices=[(f"{s.collection} · {s.url}", json.dumps([s.collection, s.url])) for s in found])

    def run(url: str, name: str, options: CrawlOptions, prune: bool) -> tuple:
        try:
            job = submit_web_sync(jobs, url, name, options.to_json(), queued_by, prune=prune)
            summary, rows = ingest_outcome(jobs.wait(job.id, UI_WAIT_S))
        except JobRefused as exc:
            return f"Not started: {exc}", gr.update(visible=False), *listing(), gr.update()
        except DatabaseError as exc:
            return f"The database is unavailable: {exc}", gr.update(visible=False), *listing(), gr.update()
        return summary, gr.update(value=rows, visible=bool(rows)), *listing(), choices()

    def add(url: str, name: str, prune: bool) -> tuple:
        if not (url or "").strip():
            return "Enter the website's URL first.", gr.update(visible=False), *listing(), gr.update()
        return run(url.strip(), (name or default).strip()[:100], CrawlOptions(), prune)

    def resync(choice: str | None, prune: bool) -> tuple:
        if not choice:
            return "Choose a website first.", gr.update(visible=False), *listing(), gr.update()
        name, url = json.loads(choice)
        stored = next((s for s in web_sources.list_sources(name) if s.url == url), None)
        options = CrawlOptions.from_json(stored.options) if stored else CrawlOptions()
        return run(url, name, options, prune)

    hidden = {"api_visibility": "private", "concurrency_limit": 1, "concurrency_id": "ingest"}
    targets = [*outputs, inputs.sources]
    inputs.add.click(add, [inputs.url, collection, inputs.prune], targets, **hidden)
    inputs.resync.click(resync, [inputs.sources, inputs.prune], targets, **hidden)
    inputs.sources.focus(choices, None, inputs.sources, api_visibility="private")

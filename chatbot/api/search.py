"""Open retrieval-only search: `GET /api/search` returns the chunks the retriever finds, no generation.

At most `RAGBOT_MAX_SEARCH_CONCURRENCY` searches run at once (each embeds the query on the CPU the generator
shares); more are answered 503 busy with Retry-After. Sources name files by their name or URL, never a server
path. Any collection can be searched: collections organise documents, they are not access control."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import AfterValidator

from chatbot.chain import source_json
from chatbot.corpus import RetrieverFactory
from chatbot.gate import Busy, GenerationGate
from chatbot.limits import storable
from chatbot.settings import Settings

Text = AfterValidator(storable)


def router(retriever_for: RetrieverFactory, settings: Settings) -> APIRouter:
    api = APIRouter(prefix="/api", tags=["search"])
    gate = GenerationGate(settings.max_search_concurrency, what="searches")

    @api.get("/search")
    def search(
        q: Annotated[str, Query(min_length=1, max_length=2000, description="The query."), Text],
        collection: Annotated[str | None, Query(min_length=1, max_length=100), Text] = None,
        k: Annotated[int | None, Query(ge=1, le=50, description="Sources to return (default: settings).")] = None,
    ) -> dict[str, Any]:
        name = collection or settings.collection
        try:
            with gate.slot():
                documents = retriever_for(name, k=k).invoke(q)
        except Busy as exc:
            raise HTTPException(503, str(exc), headers={"Retry-After": "1"}) from None
        return {"query": q, "collection": name,
                "sources": [source_json(n, d) for n, d in enumerate(documents, start=1)]}

    return api

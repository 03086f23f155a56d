"""Open retrieval-only search: `GET /api/search` returns the chunks the retriever finds, no generation."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AfterValidator

from chatbot.api.openai_compat import storable
from chatbot.chain import source_json
from chatbot.services import Services

Text = AfterValidator(storable)


def router(services: Services) -> APIRouter:
    api = APIRouter(prefix="/api", tags=["search"])

    @api.get("/search")
    def search(
        q: Annotated[str, Query(min_length=1, max_length=2000, description="The query."), Text],
        collection: Annotated[str | None, Query(min_length=1, max_length=100), Text] = None,
        k: Annotated[int | None, Query(ge=1, le=50, description="Sources to return (default: settings).")] = None,
    ) -> dict[str, Any]:
        name = collection or services.settings.collection
        documents = services.retriever(name, k=k).invoke(q)
        return {"query": q, "collection": name,
                "sources": [source_json(n, d) for n, d in enumerate(documents, start=1)]}

    return api

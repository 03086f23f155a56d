"""Generator backends: one protocol (`base.GeneratorBackend`), two implementations, chosen once here at
composition: the local model (transformers + peft, with the batcher) or an OpenAI-compatible server (vLLM…),
which can publish the registry's adapters to a vLLM server at run time."""

from __future__ import annotations

from chatbot.adapter_catalog import AdapterCatalog
from chatbot.backends.base import GeneratorBackend
from chatbot.settings import Settings


def backend_for(settings: Settings, catalog: AdapterCatalog) -> GeneratorBackend:
    """`RAGBOT_OPENAI_BASE_URL` set → the server; else the local model, with torch's thread count set first
    (before any query is embedded), so that the embedder's and the generator's threads fit on the cores together."""
    if settings.openai_base_url:
        from chatbot.backends.openai_server import OpenAIBackend

        return OpenAIBackend(settings, catalog)
    from chatbot.backends.local import LocalBackend
    from chatbot.local_model import configure_threads

    configure_threads(settings)
    return LocalBackend(settings, catalog)

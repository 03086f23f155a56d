"""The embedders a server offers by model id (`/v1/embeddings`): the configured one under its collection-record
name (`bundled:all-MiniLM-L6-v2`, or RAGBOT_EMBEDDER as given), and each tuned one as `tuned:<name>`."""

from __future__ import annotations

from collections.abc import Callable

from chatbot.embedder_registry import TUNED_PREFIX, EmbedderRegistryError, list_tuned
from chatbot.embeddings import Embedder
from chatbot.models import embedder_name
from chatbot.remote_embeddings import remote_model_id
from chatbot.settings import Settings


class UnknownEmbedder(LookupError):
    """No embedder has the asked-for model id; the message lists the ones there are."""


def configured_embedder_id(settings: Settings) -> str:
    """The id the configured embedder is served under: its model id (a remote one's id on its server)."""
    return remote_model_id(settings) if settings.embedder_url else embedder_name(settings)


class EmbedderCatalog:
    """Model ids → embedders, each loaded at its first use (by the services that keep it)."""

    def __init__(self, settings: Settings, configured: Callable[[], Embedder],
                 tuned: Callable[[str], Embedder]) -> None:
        self.settings = settings
        self.configured = configured
        self.tuned = tuned

    def ids(self) -> list[str]:
        """The configured embedder's id first, then the tuned ones', newest first."""
        return [configured_embedder_id(self.settings)] + [TUNED_PREFIX + t.name for t in list_tuned(self.settings)]

    def get(self, model_id: str) -> Embedder:
        """The embedder served as `model_id`, or `UnknownEmbedder` listing the ids."""
        if model_id == configured_embedder_id(self.settings):
            return self.configured()
        ids = self.ids()
        if model_id in ids:
            try:
                return self.tuned(model_id.removeprefix(TUNED_PREFIX))
            except EmbedderRegistryError:  # deleted since it was listed
                ids = self.ids()
        raise UnknownEmbedder(f"no embedding model '{model_id}' here; the models are: {', '.join(ids)}")

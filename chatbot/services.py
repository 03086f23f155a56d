"""The product's services, built once from settings and shared by the CLI, the API and the UI."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING

from psycopg_pool import ConnectionPool

from chatbot.abstention import AbstentionCalibration, calibrate_abstention, threshold_lookup
from chatbot.calibration_arms import CalibrationArms
from chatbot.chain import RagChain
from chatbot.chat_service import ChatService
from chatbot.cluster.in_flight import AnswersInFlight
from chatbot.cluster.replicas import replica_name
from chatbot.corpus import Corpus
from chatbot.embedder_admin import EmbedderAdmin
from chatbot.embedder_registry import TUNED_PREFIX
from chatbot.embeddings import Embedder, EmbedderIdentity, load_embedder, recorded_backend
from chatbot.fusion_calibration import Calibration, calibrate, is_stale
from chatbot.gate import GenerationGate
from chatbot.generators import Generators
from chatbot.handoffs import HandoffService
from chatbot.queue.service import JobQueue
from chatbot.retriever import Mode, PgRetriever
from chatbot.settings import Settings
from chatbot.storage import db
from chatbot.storage.abstention_records import AbstentionRecords
from chatbot.storage.adapter_registry import AdapterRegistry
from chatbot.storage.conversations import ConversationStore
from chatbot.storage.handoffs import HandoffStore
from chatbot.storage.store import FusionRecords, Store
from chatbot.storage.web_store import WebSources
from ingestion.chunking import Chunker
from ingestion.pipeline import Ingestor
from ingestion.web_sync import WebSync

if TYPE_CHECKING:
    from chatbot.gap_report import GapFinder

log = logging.getLogger(__name__)


class Services:
    """Lazily built components; nothing loads until first used."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def url(self) -> str:
        return db.database_url(self.settings)

    @cached_property
    def embedder(self) -> Embedder:
        """The configured embedder (`RAGBOT_EMBEDDER_BACKEND`); collections record which one wrote them."""
        return load_embedder(self.settings)

    @cached_property
    def embedders_by_identity(self) -> dict[EmbedderIdentity, Embedder]:
        """Embedders other than the configured one, loaded so far (`embedder_for`, `embedder_named`)."""
        return {}

    def embedder_for(self, collection: str) -> Embedder:
        """The embedder to query and ingest `collection` with: the tuned one it records; under `auto`, the
        configured model on the backend it records (`recorded_backend`); else the configured one (whose vectors
        `check_embedder` verifies against the collection's record). Each is loaded once per identity."""
        from chatbot.embedder_registry import load_tuned, tuned_name

        recorded = self.store.recorded_embedder(collection)
        name = tuned_name(recorded)
        if recorded is not None and name is not None:
            return self._once(recorded, lambda: load_tuned(self.settings, name))
        backend = recorded_backend(self.settings, recorded)
        if recorded is None or backend is None:
            return self.embedder

        def load_recorded() -> Embedder:
            log.info("collection '%s' holds %s vectors: RAGBOT_EMBEDDER_BACKEND=auto follows its record"
                     " (`ragbot reembed --collection %s` moves it to the default)", collection, backend, collection)
            return load_embedder(self.settings, backend)

        return self._once(recorded, load_recorded)

    def embedder_named(self, name: str) -> Embedder:
        """`base` (the configured embedder) or a tuned one, loaded once per identity."""
        from chatbot.embedder_registry import BASE, get_tuned, load_tuned

        if name == BASE:
            return self.embedder
        return self._once(get_tuned(self.settings, name).identity, lambda: load_tuned(self.settings, name))

    def _once(self, identity: EmbedderIdentity, load: Callable[[], Embedder]) -> Embedder:
        """The embedder of `identity`, loaded by `load` at its first use and kept."""
        if identity not in self.embedders_by_identity:
            self.embedders_by_identity[identity] = load()
        return self.embedders_by_identity[identity]

    @cached_property
    def embedder_admin(self) -> EmbedderAdmin:
        return EmbedderAdmin(self.settings, self.pool, self.store, self.embedder_named)

    @cached_property
    def pool(self) -> ConnectionPool:
        """The pool, after the schema is migrated (the embedder is loaded only if migrations are pending)."""
        if db.pending_migrations(self.url):
            applied = db.apply_migrations(self.url, self.embedder.dimension)
            log.info("applied migrations: %s", ", ".join(applied) or "none")
        return db.create_pool(self.url)

    @cached_property
    def store(self) -> Store:
        return Store(self.pool)

    @cached_property
    def corpus(self) -> Corpus:
        return Corpus(self.store, self.retriever, self.embedder_for)

    @cached_property
    def chunker(self) -> Chunker:
        return Chunker(
            self.embedder.tokenizer,
            chunk_size=self.settings.chunk_size,
            chunk_overlap=self.settings.chunk_overlap,
            max_tokens=self.embedder.max_tokens,
        )

    @cached_property
    def ingestor(self) -> Ingestor:
        self.check_embedding_dimension()
        return Ingestor(self.store, self.embedder, self.chunker, self.settings.max_upload_bytes,
                        embedder_for=self.embedder_for, on_change=self.calibrate_fusion)

    @cached_property
    def web_sources(self) -> WebSources:
        return WebSources(self.pool)

    @cached_property
    def web_sync(self) -> WebSync:
        """Websites into collections, kept in sync (`ragbot ingest URL`, Admin → Documents)."""
        return WebSync(self.ingestor, self.web_sources, allow_private=self.settings.ingest_allow_private,
                       max_page_bytes=int(self.settings.ingest_max_page_mb * 1024 * 1024),
                       deadline_s=self.settings.ingest_deadline_s)

    @cached_property
    def reranker(self):
        """A cross-encoder when `RAGBOT_RERANKER` is set (none is bundled)."""
        if not self.settings.reranker:
            return None
        from sentence_transformers import CrossEncoder

        return CrossEncoder(self.settings.reranker, device="cpu", local_files_only=True)

    def retriever(self, collection: str | None = None, mode: Mode | None = None, k: int | None = None,
                  metadata_filter: dict | None = None) -> PgRetriever:
        s = self.settings
        name = collection or s.collection
        return PgRetriever(
            pool=self.pool, embedder=self.embedder_for(name), collection=name,
            mode=mode or s.retrieval_mode, k=k or s.top_k, fetch_k=s.fetch_k, ef_search=s.ef_search,
            metadata_filter=metadata_filter, reranker=self.reranker,
            default_lexical_weight=s.lexical_weight, bm25_k1=s.bm25_k1, bm25_b=s.bm25_b, lead_weight=s.lead_weight,
        )

    @cached_property
    def fusion_records(self) -> FusionRecords:
        return FusionRecords(self.pool)

    def calibrate_fusion(self, collection: str, *, force: bool = False,
                         qa: tuple[str, list[str]] | None = None) -> Calibration | None:
        """Calibrate `collection`'s hybrid fusion when it is new or changed much (or `force`), and its abstention
        threshold with it (from `qa` when given, see `calibrate_abstention`); None when skipped."""
        if self.settings.calibration_queries == 0 or not (force or is_stale(self.fusion_records, collection)):
            return None
        arms = CalibrationArms(self.retriever(collection))
        self.calibrate_abstention(collection, qa, arms)
        if not force and self.embedder_for(collection).identity.model.startswith(TUNED_PREFIX):
            # A tuned embedder has learnt these very titles: they would favour its vectors (measured on git-docs:
            # the weight fell 0.5 → 0.2 and hybrid nDCG@10 0.613 → 0.589), so the base's calibration stays.
            return None
        calibration = calibrate(arms, self.fusion_records, self.settings.calibration_queries)
        log.info("fusion of '%s': lexical weight %s from %d titles/headings", collection,
                 calibration.lexical_weight, calibration.queries)
        return calibration

    @cached_property
    def abstention_records(self) -> AbstentionRecords:
        return AbstentionRecords(self.pool)

    def calibrate_abstention(self, collection: str, qa: tuple[str, list[str]] | None = None,
                             arms: CalibrationArms | None = None) -> AbstentionCalibration:
        """Calibrate `collection`'s abstention threshold now: label-free, or from `qa` (a file's name, its
        questions); `arms`: the retriever's arms shared with the fusion calibration."""
        calibration = calibrate_abstention(arms or self.retriever(collection), self.fusion_records,
                                           self.abstention_records, self.settings.calibration_queries, qa)
        log.info("abstention of '%s': threshold %s from %d answerable (%s) and %d unanswerable questions",
                 collection, calibration.threshold, calibration.answerable, calibration.source,
                 calibration.unanswerable)
        return calibration

    @cached_property
    def adapter_registry(self) -> AdapterRegistry:
        return AdapterRegistry(self.pool)

    @cached_property
    def generators(self) -> Generators:
        return Generators(self.settings, registry=lambda: self.adapter_registry)

    @cached_property
    def coverage_threshold(self) -> Callable[[str], float]:
        """collection → the best similarity a question needs to be answered: its calibrated abstention threshold,
        else `RAGBOT_RELEVANCE_THRESHOLD`. The chain and Gaps read the same one."""
        return threshold_lookup(lambda: self.abstention_records, self.settings.relevance_threshold)

    @cached_property
    def chain(self) -> RagChain:
        return RagChain(self.settings, self.generators, lambda collection: self.retriever(collection),
                        self.coverage_threshold)

    @cached_property
    def conversations(self) -> ConversationStore:
        return ConversationStore(self.pool)

    @cached_property
    def gap_finder(self) -> GapFinder:
        """Gaps (Admin → Gaps, `ragbot gaps`): each collection's retriever and the chain's coverage threshold.
        Imported here: scikit-learn takes seconds to import, and only gaps need it."""
        from chatbot.gap_report import GapFinder

        return GapFinder(self.pool, self.retriever, self.coverage_threshold)

    @cached_property
    def chat(self) -> ChatService:
        in_flight = AnswersInFlight(self.pool, replica_name(self.settings), self.settings.max_answers_per_client)
        return ChatService(self.chain, self.conversations, GenerationGate(self.settings.max_queue), in_flight)

    @cached_property
    def handoffs(self) -> HandoffService:
        """Handoffs to a person (docs/handoffs.md)."""
        return HandoffService(self.settings, HandoffStore(self.pool), self.conversations, self.jobs)

    @cached_property
    def jobs(self) -> JobQueue:
        """Jobs in the database (`chatbot.queue`): submitted here, run by any worker."""
        return JobQueue(self.pool)

    def check_embedding_dimension(self) -> None:
        """Refuse to mix embedders: the stored vectors must match the configured embedder."""
        with self.pool.connection() as conn:
            stored = db.embedding_dimension(conn)
        if stored is not None and stored != self.embedder.dimension:
            raise db.DatabaseError(
                f"the database stores {stored}-d embeddings but the embedder makes "
                f"{self.embedder.dimension}-d ones; use the same embedder or a fresh database"
            )

    def close(self) -> None:
        if "jobs" in self.__dict__:
            self.jobs.close()
        if "pool" in self.__dict__:
            self.pool.close()

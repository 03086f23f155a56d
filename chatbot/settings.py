"""One settings model for the whole product, read from the environment and `.env`, composed of sections."""

from __future__ import annotations

import difflib
import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

BUNDLED = "bundled"
_ORIGIN = re.compile(r"https?://[^/\s?#*]+")  # scheme://host[:port], nothing after it

# Offline by default: nothing may reach a model hub or phone home at run time.
OFFLINE_ENVIRONMENT = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "TOKENIZERS_PARALLELISM": "false",
}


def configure_environment() -> None:
    """Set `OFFLINE_ENVIRONMENT` where the environment does not say otherwise. Called once at program start (the
    CLI, tests): the model libraries read these variables when they are imported, and importing this module
    changes nothing."""
    for key, value in OFFLINE_ENVIRONMENT.items():
        os.environ.setdefault(key, value)


def unknown_settings(environ: dict[str, str]) -> list[str]:
    """A line for each `RAGBOT_*` variable that names no setting (pydantic-settings ignores them silently), with
    the closest setting's name when there is one: `RAGBOT_TOPK=3` should not go unnoticed."""
    known = {f"RAGBOT_{name.upper()}" for name in Settings.model_fields}
    lines = []
    for name in sorted(k for k in environ if k.startswith("RAGBOT_") and k not in known):
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.8)
        lines.append(f"{name} is not a setting and is ignored" + (f" (did you mean {close[0]}?)" if close else ""))
    return lines


class StorageSettings(BaseModel):
    """Where the data lives: the database and `RAGBOT_HOME` (pgdata, converted models, adapters)."""

    database_url: SecretStr | None = Field(  # a secret: it usually holds the database password
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "RAGBOT_DATABASE_URL", "database_url"),
        description="Postgres with pgvector; unset → an embedded server under RAGBOT_HOME/pgdata.",
    )
    home: Path = Field(default=Path(".ragbot"), description="pgdata, converted models, adapters.")

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def pgdata(self) -> Path:
        return self.home / "pgdata"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def adapters_dir(self) -> Path:
        return self.home / "adapters"


class EmbedderSettings(BaseModel):
    """The embedder and how it runs."""

    embedder: str = Field(default=BUNDLED, description="'bundled' (all-MiniLM-L6-v2), a HF id or a path.")
    embedder_backend: Literal["auto", "torch", "onnx", "onnx-int8"] = Field(
        default="auto", description="How the embedder runs; 'auto' → the measured default (see embeddings).")
    embedder_url: str | None = Field(default=None, pattern=r"^https?://[^\s?#]+$", description="An OpenAI-"
                                     "compatible embeddings server (base URL, e.g. http://host:7860/v1): embed "
                                     "there instead of here (see remote_embeddings).")
    embedder_model: str | None = Field(default=None, description="Its model id; unset → RAGBOT_EMBEDDER's id, "
                                       "what a ragbot server with that embedder serves.")
    embedder_api_key: SecretStr = SecretStr("EMPTY")

    @field_validator("embedder_url", mode="before")
    @classmethod
    def _no_trailing_slash(cls, value: object) -> object:
        return (value.strip().rstrip("/") or None) if isinstance(value, str) else value


class GenerationSettings(BaseModel):
    """The generators: the local base model and its adapters, decoding, or an OpenAI-compatible server."""

    base_model: str = Field(default=BUNDLED, description="'bundled' (SmolLM2-135M-Instruct), a HF id or path.")
    adapter: str | None = Field(default=None, description="Adapter for the fine-tuned generator; newest if unset.")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        default="auto", description="Generator dtype; 'auto' → per device (bf16 only where native, see precision).")
    cpu_bf16: Literal["auto", "native", "emulated"] = Field(
        default="auto", description="Whether bf16 is native on this CPU: 'auto' → measured (cached probe).")
    base_quant: Literal["auto", "none", "nf4", "int8"] = Field(
        default="auto", description="How the base answers: 'auto' → on the quantized base the default adapter "
        "was trained on (one model in memory), else in `dtype`; 'none' → always in `dtype` (a second copy).")
    torch_threads: int = Field(default=0, ge=0, description="0 → half the available cores (see local_model).")
    max_new_tokens: int = Field(default=160, ge=1, le=4096)
    context_window: int = Field(default=2048, ge=256, description="Tokens the generator may see.")
    no_repeat_ngram: int = Field(default=6, ge=0, le=64, description="A local answer never repeats an n-gram of "
                                 "its own tokens this long (0: off; see batching.Decoding).")
    repetition_penalty: float = Field(default=1.0, ge=1.0, le=3.0, description="CTRL penalty on tokens the local "
                                      "answer already used (1.0: off).")
    stop_on_loop: bool = Field(default=True, description="End an answer before a repeated line or 8-word span "
                               "(answer_guard; any generator).")

    openai_base_url: str | None = Field(default=None, description="An OpenAI-compatible server (vLLM…).")
    openai_api_key: SecretStr = SecretStr("EMPTY")
    openai_model_base: str | None = Field(default=None, description="Server model name for 'base'.")
    openai_model_finetuned: str | None = Field(default=None, description="Server model name for 'finetuned'.")
    openai_publish_adapters: bool = Field(default=False, description="Publish the registry's adapters to the "
                                          "server at run time (vLLM with VLLM_ALLOW_RUNTIME_LORA_UPDATING=True); "
                                          "'finetuned' then answers through them (see docs/vllm.md).")
    openai_adapter_dir: Path | None = Field(default=None, description="Where published adapters' files are "
                                            "written for the server to read (the same path on both machines); "
                                            "unset → RAGBOT_HOME/published-adapters.")


class IngestSettings(BaseModel):
    """Ingestion: the default collection, chunking, uploads and web pages."""

    collection: str = Field(default="default", min_length=1, max_length=100)
    chunk_size: int = Field(default=200, ge=16, description="Chunk length in embedder tokens.")
    chunk_overlap: int = Field(default=30, ge=0)
    embed_batch_size: int = Field(default=32, ge=1)
    max_upload_mb: float = Field(default=50.0, gt=0)
    ingest_max_page_mb: float = Field(default=10.0, gt=0, description="Largest web page `ingest URL` reads.")
    ingest_allow_private: bool = Field(default=False, description="Let `ingest URL` fetch private, loopback and "
                                       "link-local addresses (an intranet help center, tests); refused otherwise.")
    ingest_deadline_s: float = Field(default=3600.0, gt=0, description="Longest one website sync runs: it then "
                                     "stops, keeps what it ingested and names the pages it did not visit.")

    @model_validator(mode="after")
    def _overlap_below_size(self) -> Self:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError("chunk_overlap must be smaller than chunk_size")
        return self

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


class RetrievalSettings(BaseModel):
    """Retrieval: mode, sources per answer, the HNSW and BM25 arms, their fusion, the reranker."""

    retrieval_mode: Literal["hybrid", "vector", "fts"] = "hybrid"
    top_k: int = Field(default=5, ge=1, le=100)
    ef_search: int = Field(default=100, ge=1, le=1000)
    fetch_k: int = Field(default=40, ge=1, le=1000, description="Candidates each arm (vector, BM25) fetches "
                         "before fusion and reranking (at least top_k).")
    lexical_weight: float = Field(default=0.3, ge=0.0, le=1.0, description="Hybrid fusion's BM25 weight for a "
                                  "collection not yet calibrated (see fusion_calibration).")
    calibration_queries: int = Field(default=200, ge=0, le=5000, description="Titles/headings a collection's "
                                     "fusion is calibrated on (0: never calibrate).")
    bm25_k1: float = Field(default=1.2, ge=0.0, le=10.0)
    bm25_b: float = Field(default=0.75, ge=0.0, le=1.0)
    lead_weight: float = Field(default=0.5, ge=0.0, le=1.0, description="Share of a chunk's vector score taken "
                               "from its section's first chunk (0: the chunk alone).")
    relevance_threshold: float = Field(default=0.3, ge=-1.0, le=1.0)
    reranker: str | None = Field(default=None, description="Cross-encoder id or path; off when unset.")


class ServerSettings(BaseModel):
    """What the server runs at once and accepts: batches, queues, questions and their history."""

    max_batch: int = Field(default=16, ge=1, description="Answers a local model generates at once.")
    max_queue: int = Field(default=32, ge=1, description="Answers running or waiting; past it → 503 busy.")
    max_question_chars: int = Field(default=4000, ge=1, description="Longest question any entry point accepts.")
    max_history_turns: int = Field(default=20, ge=0, description="Earlier (question, answer) turns a request "
                                   "may carry; a stored conversation keeps its newest ones.")
    max_history_chars: int = Field(default=16000, ge=0, description="Characters of those earlier turns together.")
    max_search_concurrency: int = Field(default=8, ge=1, description="Searches (/api/search) running at once, "
                                        "and embedding requests (/v1/embeddings); past it → 503 busy.")
    max_embedding_inputs: int = Field(default=256, ge=1, description="Texts one /v1/embeddings request may carry.")
    max_embedding_input_chars: int = Field(default=20000, ge=1, description="Characters of each of those texts.")
    ui_queue_size: int = Field(default=64, ge=1, description="Events the public UI's queue holds; past it the "
                               "page says the queue is full.")
    max_answers_per_client: int = Field(default=2, ge=0, description="Answers one client (IP, as the rate limit "
                                        "sees it) may have in flight across all replicas; 0 = no cap.")
    replica_name: str = Field(default="", description="This server's name among replicas (X-Ragbot-Replica "
                              "header, heartbeats); empty → host-pid.")
    ui_sessions: int = Field(default=500, ge=1, description="Page sessions whose state the public UI keeps; past "
                             "it the least recently used is dropped (that page's next question starts a new "
                             "conversation).")


class TrainingSettings(BaseModel):
    """Training data from votes, and the evaluations."""

    eval_concurrency: int = Field(default=1, ge=1, le=64, description="Answers an evaluation runs at once "
                                  "(> 1: faster; its seconds per answer then include sharing the model).")
    min_votes: int = Field(default=2, ge=1, description="Distinct clients' positive votes a (question, answer) "
                           "pair needs before it is exported for training.")


class WorkerSettings(BaseModel):
    """The job worker (docs/jobs.md)."""

    worker: bool = Field(default=True, description="`ragbot serve` runs one job worker in-process; 0 for web "
                         "replicas (run `ragbot worker` elsewhere).")
    worker_stalled_s: float = Field(default=30.0, ge=2, description="A worker silent this long is taken for dead: "
                                    "its running jobs are retried by another worker (or failed).")


class HandoffSettings(BaseModel):
    """Handoffs to a person: where they are delivered and how delivery is retried (docs/handoffs.md)."""

    handoff_url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$", description="The support desk's "
                                    "webhook: each handoff is POSTed there as JSON; unset → handoffs stay open in "
                                    "Admin → Handoffs.")
    handoff_token: SecretStr | None = Field(default=None, description="Sent as `Authorization: Bearer …`.")
    handoff_format: Literal["ragbot", "zendesk"] = Field(default="ragbot", description="The JSON body: ragbot's "
                                                         "own, or a Zendesk ticket ({\"ticket\": …}).")
    handoff_timeout_s: float = Field(default=10.0, gt=0, le=300, description="One delivery attempt's timeout.")
    handoff_retry_s: float = Field(default=30.0, gt=0, description="Wait before the first retry; it doubles "
                                   "after each failure (at most an hour).")
    handoff_max_attempts: int = Field(default=10, ge=1, description="Delivery attempts before retries stop (the "
                                      "handoff stays open; `ragbot handoffs deliver` tries again).")


class SecuritySettings(BaseModel):
    """The admin login, CORS, rate limits and the reverse proxies believed."""

    admin_user: str = "admin"
    admin_password: SecretStr | None = None
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Origins (scheme://host[:port]) whose pages may call the API and the UI "
        "with credentials: comma-separated or a JSON list. Empty: the app's own origin only.")

    rate_limit_per_minute: int = Field(default=60, ge=0, description="Requests a client (IP) may make per minute "
                                       "to each open route: chat completions, search, feedback, handoffs (the public "
                                       "UI's events: 4×); 0 = no limit. Over it → 429 with Retry-After.")
    rate_limit_burst: int = Field(default=20, ge=1, description="Requests a client may make at once before the "
                                  "per-minute rate applies (the token bucket's size).")
    trusted_proxies: str = Field(default="", description="Comma-separated IPs/CIDRs of reverse proxies whose "
                                 "X-Forwarded-For names the client; empty → the peer address is the client.")
    login_free_failures: int = Field(default=5, ge=1, description="Failed admin logins a client or user name may "
                                     "make before each further attempt must wait (doubling, see below).")
    login_lockout_max_s: int = Field(default=300, ge=1, description="Longest wait after failed admin logins.")
    admin_session_idle_minutes: float = Field(default=30, gt=0, description="An admin session ends after this "
                                              "long without a request.")
    admin_session_max_hours: float = Field(default=12, gt=0, description="An admin session ends this long after "
                                           "its login, however active.")

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origin_list(cls, value: object) -> object:
        if isinstance(value, str):
            return json.loads(value) if value.lstrip().startswith("[") else [o for o in value.split(",") if o.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _explicit_origins(cls, value: list[str]) -> list[str]:
        origins = [o.strip().rstrip("/").lower() for o in value]
        if bad := [o for o in origins if not _ORIGIN.fullmatch(o)]:
            raise ValueError(f"not an origin (scheme://host[:port]; no '*'): {bad}")
        return origins


class Settings(SecuritySettings, HandoffSettings, WorkerSettings, TrainingSettings, ServerSettings, RetrievalSettings,
               IngestSettings, GenerationSettings, EmbedderSettings, StorageSettings, BaseSettings):
    """Configuration, the sections above together; every field maps to `RAGBOT_<NAME>` (and `DATABASE_URL`).
    A function that needs one section takes it (a `Settings` is each of them)."""

    model_config = SettingsConfigDict(
        env_prefix="RAGBOT_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="forbid",
        populate_by_name=True,
    )


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (cached; tests build their own `Settings`)."""
    return Settings()

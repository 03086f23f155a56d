"""Embedder backend selection, export locations and the collection-embedder check (a fake connection)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from chatbot import embeddings, onnx_export
from chatbot.embeddings import (
    AUTO_BACKEND,
    ONNX_FILES,
    EmbedderIdentity,
    load_embedder,
    recorded_backend,
    resolve_backend,
)
from chatbot.models import ModelError, embedder_name, onnx_embedder_dir
from chatbot.settings import Settings
from chatbot.storage.store import EmbedderMismatch, check_embedder

TORCH = EmbedderIdentity("bundled:all-MiniLM-L6-v2", "torch", 384)
INT8 = EmbedderIdentity("bundled:all-MiniLM-L6-v2", "onnx-int8", 384)


def make_settings(tmp_path, **values) -> Settings:
    return Settings(home=tmp_path, _env_file=None, **values)


@pytest.mark.parametrize("backend", ["torch", "onnx", "onnx-int8"])
def test_an_explicit_backend_is_used_as_configured(tmp_path, backend):
    assert resolve_backend(make_settings(tmp_path, embedder_backend=backend)) == (backend, "configured")


def test_auto_picks_the_measured_default_when_exported(tmp_path):
    settings = make_settings(tmp_path)
    folder = onnx_embedder_dir(settings)
    folder.mkdir(parents=True)
    (folder / ONNX_FILES[AUTO_BACKEND]).write_bytes(b"onnx")
    backend, reason = resolve_backend(settings)
    assert backend == AUTO_BACKEND and reason.startswith("auto:")


def test_auto_falls_back_to_torch_with_the_reason_logged(tmp_path, monkeypatch, caplog):
    settings = make_settings(tmp_path)
    backend, reason = resolve_backend(settings)
    assert backend == "torch" and "ragbot models prepare" in reason
    monkeypatch.setattr(embeddings.SentenceTransformerEmbeddings, "from_settings", classmethod(lambda cls, s: "st"))
    with caplog.at_level("WARNING"):
        assert load_embedder(settings) == "st"
    assert "ragbot models prepare" in caplog.text


def test_auto_follows_a_collections_recorded_backend_once_the_default_changed(tmp_path):
    settings = make_settings(tmp_path)
    folder = onnx_embedder_dir(settings)
    folder.mkdir(parents=True)
    (folder / ONNX_FILES[AUTO_BACKEND]).write_bytes(b"onnx")
    assert recorded_backend(settings, TORCH) == "torch"  # written before `models prepare`: keeps answering
    assert recorded_backend(settings, INT8) is None  # already the default
    assert recorded_backend(settings, None) is None
    assert recorded_backend(settings, EmbedderIdentity("other-model", "torch", 384)) is None  # refused by name
    assert recorded_backend(settings, EmbedderIdentity(TORCH.model, "openvino", 384)) is None
    assert recorded_backend(make_settings(tmp_path, embedder_backend="onnx-int8"), TORCH) is None  # configured


@pytest.mark.parametrize("backend", ["onnx", "onnx-int8"])
def test_a_missing_export_says_how_to_make_it(tmp_path, backend):
    with pytest.raises(ModelError, match="run `ragbot models prepare`"):
        load_embedder(make_settings(tmp_path, embedder_backend=backend))


def test_unknown_backend_is_rejected(tmp_path):
    with pytest.raises(ValidationError):
        make_settings(tmp_path, embedder_backend="openvino")


def test_names_and_export_folders(tmp_path):
    bundled = make_settings(tmp_path)
    assert embedder_name(bundled) == "bundled:all-MiniLM-L6-v2"
    one = make_settings(tmp_path, embedder="sentence-transformers/all-mpnet-base-v2")
    other = make_settings(tmp_path, embedder="/models/all mpnet")
    assert embedder_name(one) == "sentence-transformers/all-mpnet-base-v2"
    folders = {onnx_embedder_dir(s) for s in (bundled, one, other)}
    assert len(folders) == 3 and all(f.parent == tmp_path / "models" / "embedders" for f in folders)
    assert " " not in onnx_embedder_dir(other).name


@pytest.mark.parametrize("machine, flags, config", [
    ("x86_64", {"avx2", "avx512_vnni"}, "avx512_vnni"),
    ("x86_64", {"avx2", "avx_vnni"}, "avx512_vnni"),
    ("x86_64", {"avx2", "fma"}, "avx2"),
    ("aarch64", {"asimd"}, "arm64"),
])
def test_int8_configuration_follows_the_cpu(monkeypatch, machine, flags, config):
    monkeypatch.setattr("chatbot.precision.cpu_flags", lambda: flags)
    monkeypatch.setattr(onnx_export.platform, "machine", lambda: machine)
    assert onnx_export.int8_config() == config


class FakeConnection:
    """Answers the record query with one row; remembers the statements run."""

    def __init__(self, row: tuple | None) -> None:
        self.row = row
        self.statements: list[tuple[str, tuple]] = []

    def execute(self, sql: str, params: tuple = ()):
        self.statements.append((sql, params))
        return self

    def fetchone(self):
        return self.row


def record(identity: EmbedderIdentity | None, has_vectors: bool = True) -> tuple:
    fields = (identity.model, identity.backend, identity.dimension) if identity else (None, None, None)
    return (7, *fields, has_vectors)


def test_the_same_embedder_passes():
    check_embedder(FakeConnection(record(INT8)), "kb", INT8)
    check_embedder(FakeConnection(None), "no-such-collection", INT8)


def test_another_embedder_fails_naming_both_and_the_fixes():
    with pytest.raises(EmbedderMismatch) as caught:
        check_embedder(FakeConnection(record(INT8)), "kb", TORCH)
    message = str(caught.value)
    assert str(INT8) in message and str(TORCH) in message
    assert "RAGBOT_EMBEDDER_BACKEND=onnx-int8" in message and "ragbot reembed --collection kb" in message


def test_a_collection_without_a_record_was_written_by_torch():
    check_embedder(FakeConnection(record(None)), "old", TORCH)
    with pytest.raises(EmbedderMismatch, match="before embedder records"):
        check_embedder(FakeConnection(record(None)), "old", INT8)


def test_a_write_records_its_embedder_where_none_is_or_nothing_is_stored():
    for row, writer in ((record(None), TORCH), (record(TORCH, has_vectors=False), INT8)):
        conn = FakeConnection(row)
        check_embedder(conn, "kb", writer, claim=True)
        assert "FOR UPDATE" in conn.statements[0][0]
        assert conn.statements[-1][0].startswith("UPDATE collections")
    conn = FakeConnection(record(INT8))
    check_embedder(conn, "kb", INT8, claim=True)
    assert len(conn.statements) == 1

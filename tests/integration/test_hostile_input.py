"""Hostile input through the real CLI and the real HTTP API: malformed files, dangerous names, injection strings,
fuzzed requests, script in documents, bad credentials, secrets in logs. Every case ends in a clear per-file error
or a clean 4xx/503, never a traceback or a 500, and nothing is written outside RAGBOT_HOME."""

from __future__ import annotations

import base64
import functools
import io
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, event, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tests.conftest import EXAMPLE_DOCS
from tests.integration.private_db import cli_env, free_port, serving

pytestmark = pytest.mark.integration

LIMIT_MB = 12
ADMIN = ("admin", "hostile-test-" + secrets.token_hex(8))
TOKEN = secrets.token_hex(4)  # in every dangerous name, to search the disk for anything they created
HYPOTHESIS = {"deadline": None, "database": None, "suppress_health_check": [HealthCheck.too_slow]}


# --- the corpus ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    data: bytes
    ok: bool
    words: tuple[str, ...] = ()  # for a failure: its message contains one of these (lower case)


def _docx_with(document_xml: bytes, *, drop: str | None = None) -> bytes:
    """A copy of a real DOCX with its word/document.xml replaced (or `drop` left out)."""
    source = zipfile.ZipFile(sorted(EXAMPLE_DOCS.glob("*.docx"))[0])
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for item in source.infolist():
            if item.filename == drop:
                continue
            content = document_xml if item.filename == "word/document.xml" else source.read(item.filename)
            archive.writestr(item.filename, content)
    return out.getvalue()


def _lying_zip_bomb() -> bytes:
    """A DOCX whose document.xml inflates to 50 MB while its headers declare 10 KB (defeats size checks)."""
    data = bytearray(_docx_with(b" " * (50 * 1024 * 1024)))
    for signature, size_at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = 0
        while (at := data.find(signature, start)) >= 0:
            name_at = at + (30 if signature == b"PK\x03\x04" else 46)
            name_len = int.from_bytes(data[at + size_at + 4 : at + size_at + 6] if signature == b"PK\x03\x04"
                                      else data[at + 28 : at + 30], "little")
            if data[name_at : name_at + name_len] == b"word/document.xml":
                data[at + size_at : at + size_at + 4] = (10 * 1024).to_bytes(4, "little")
            start = at + 4
    return bytes(data)


def _pdf(encrypt_with: str | None = None, *, blank: bool = False) -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    if blank:
        writer.add_blank_page(200, 200)
    else:
        writer.append(str(sorted(EXAMPLE_DOCS.glob("*.pdf"))[0]))
    if encrypt_with is not None:
        writer.encrypt(user_password=encrypt_with, owner_password="owner-" + TOKEN, algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@functools.cache
def hostile_cases() -> dict[str, Case]:
    """At least 40 hostile files (file name → bytes and the expected outcome), plus good ones beside them."""
    pdf = sorted(EXAMPLE_DOCS.glob("*.pdf"))[0].read_bytes()
    docx = sorted(EXAMPLE_DOCS.glob("*.docx"))[0].read_bytes()
    png = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489") + b"\x00" * 64
    elf = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 120
    laughs = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
              + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
                         for i in range(1, 10))
              + b']><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
              b"<w:body><w:p><w:r><w:t>&lol9;</w:t></w:r></w:p></w:body></w:document>")
    xxe = (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
           b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
           b"<w:body><w:p><w:r><w:t>External entity: &x; end of the entity test paragraph.</w:t></w:r></w:p>"
           b"</w:body></w:document>")
    fine = b"Pairing the hub: hold the button for five seconds until the light blinks blue.\n"
    bad_pdf, bad_text, bad_docx = ("pdf",), ("binary", "utf-8"), ("docx", "zip")
    cases = {
        # PDF
        "truncated.pdf": Case(pdf[: len(pdf) // 3], False, bad_pdf),
        "password.pdf": Case(_pdf("secret-" + TOKEN), False, ("password",)),
        "zero-bytes.pdf": Case(b"", False, ("empty",)),
        "header-only.pdf": Case(b"%PDF-1.7\n", False, bad_pdf),
        "garbage.pdf": Case(bytes(range(256)) * 40, False, bad_pdf),
        "png-named.pdf": Case(png, False, bad_pdf),
        "blank-page.pdf": Case(_pdf(blank=True), False, ("no text",)),
        "empty-password.pdf": Case(_pdf(""), True),  # encrypted, but opens without a password: its text is fine
        "UPPER.PDF": Case(pdf, True),
        # DOCX
        "zip-bomb.docx": Case(_docx_with(b" " * (300 * 1024 * 1024)), False, ("zip bomb",)),
        "lying-zip-bomb.docx": Case(_lying_zip_bomb(), False, bad_docx),
        "billion-laughs.docx": Case(_docx_with(laughs), False, ("docx",)),
        "xxe.docx": Case(_docx_with(xxe), True),  # ingested, without the external entity's content
        "not-a-zip.docx": Case(b"just some text, not a zip archive", False, ("zip",)),
        "no-document-xml.docx": Case(_docx_with(b"", drop="word/document.xml"), False, ("document.xml",)),
        "truncated.docx": Case(docx[: len(docx) // 2], False, bad_docx),
        "bad-xml.docx": Case(_docx_with(b"<w:document><unclosed"), False, ("docx",)),
        "zero-bytes.docx": Case(b"", False, ("empty",)),
        # HTML
        "deep-divs.html": Case(b"<html><body>" + b"<div>" * 100_000 + b"deep text survives" + b"</div>" * 100_000,
                               True),
        # (30,000 levels: a per-row search made nested tables quadratic, 20,000 levels took 50 s before the fix)
        "deep-tables.html": Case(b"<table><tr><td>" * 30_000 + b"a cell at the bottom", True),
        "deep-unclosed-spans.html": Case(b"<p>" + b"<span>" * 30_000 + b"inline text at the bottom", True),
        "script-only.html": Case(b"<script>alert(1)</script><style>p{}</style><noscript>x</noscript>", False,
                                 ("no text",)),
        "nul.html": Case(b"<p>text\x00with a NUL</p>", False, ("binary",)),
        "invalid-utf8.html": Case(b"<p>caf\xe9 \xff\xfe</p>", False, ("utf-8",)),
        "bogus-charset.html": Case(b'<meta charset="x-no-such-codec"><p>plain text here</p>', True),
        "docx-named.html": Case(docx, False, bad_text),
        # text and Markdown
        "one-line-10mb.txt": Case(b"0123456789abcdefghijklmnopqrstuvwxyz" * (10 * 1024 * 1024 // 36), True),
        "nul-bytes.txt": Case(b"text\x00\x00\x00 and more", False, ("binary",)),
        "invalid-utf8.md": Case(b"# Title\n\ncaf\xe9 cr\xe8me", False, ("utf-8",)),
        "overlong-utf8.md": Case(b"\xc0\xaf slash", False, ("utf-8",)),
        "surrogate-utf8.txt": Case(b"\xed\xa0\x80 lone surrogate", False, ("utf-8",)),
        "whitespace-only.md": Case(b" \n\t\n   \r\n", False, ("no text",)),
        "utf16-bom.txt": Case(b"\xff\xfe" + "UTF-16 text with a BOM, caf\u00e9.".encode("utf-16-le"), True),
        "control-chars.md": Case(b"# Title\x1b[31m\n\nBody\x01\x02 with \x07 bells\x7f and escapes.\n", True),
        "blank-heavy-heading.md": Case(b"# x" + b" \t" * 500_000 + b"y\n\nBody under a heading full of blanks.\n",
                                       True),
        "unterminated-fence.md": Case(b"Intro text.\n\n```\ncode that never ends\n# not a heading\n", True),
        "giant-word.md": Case(b"a" * 200_000 + b"\n\nthen normal words.", True),
        "pdf-named.txt": Case(pdf, False, bad_text),
        "png-named.md": Case(png, False, ("binary",)),
        "elf-named.txt": Case(elf, False, ("binary",)),
        "gzip-named.txt": Case(b"\x1f\x8b\x08\x00" + os.urandom(64), False, bad_text),
        "program.exe": Case(b"MZ\x90\x00", False, ("unsupported",)),
        "no-extension": Case(fine, False, ("unsupported",)),
        "oversized.txt": Case(b"word " * ((LIMIT_MB + 1) * 1024 * 1024 // 5), False, ("limit",)),
        # harmless content under names full of shell metacharacters: they must simply go in
        f"a;touch pwned-{TOKEN}-1;.md": Case(fine, True),
        f"$(touch pwned-{TOKEN}-2).txt": Case(fine, True),
        f"`touch pwned-{TOKEN}-3`.md": Case(fine, True),
        f"|touch pwned-{TOKEN}-4.html": Case(b"<p>" + fine + b"</p>", True),
        f"-rf --no-preserve-root {TOKEN}.md": Case(fine, True),
        f"quotes ' \" & < > {TOKEN}.txt": Case(fine, True),
        f"日本語-{TOKEN}.md": Case("# 見出し\n\n本文のテキストです。".encode(), True),
    }
    assert len(cases) >= 40
    return cases


GOOD = ["accessories-catalog.pdf", "led-status-codes.html", "lumio-app-user-guide.docx", "firmware-updates.md"]
BAD_MESSAGE = re.compile(r"Traceback|could not be read \(|Error:|File \"")  # a loader bug, not a reason


def assert_clear_reason(name: str, error: str, case: Case) -> None:
    assert error and "\n" not in error and len(error) < 400, (name, error)
    assert not BAD_MESSAGE.search(error), (name, error)
    assert any(word in error.lower() for word in case.words), (name, error, case.words)


def written_outside(*roots: Path, shallow: tuple[Path, ...] = ()) -> list[str]:
    """Files that the dangerous names could have created: anywhere under `roots`, or directly in `shallow`."""
    def suspicious(name: str) -> bool:
        return name.startswith("pwned-") or name.startswith(f"x-{TOKEN}")

    found = [os.path.join(d, f) for root in roots for d, _dirs, files in os.walk(root) for f in files
             if suspicious(f)]
    found += [str(p) for folder in shallow for p in folder.iterdir() if suspicious(p.name)]
    return found


# --- through the CLI ----------------------------------------------------------------------------------------------


def test_cli_reports_every_hostile_file_and_ingests_the_good_ones(services, settings, tmp_path, collection):
    folder, cwd = tmp_path / "hostile", tmp_path / "cwd"
    folder.mkdir()
    cwd.mkdir()
    cases = hostile_cases()
    for name, case in cases.items():
        (folder / name).write_bytes(case.data)
    for name in GOOD:
        (folder / name).write_bytes((EXAMPLE_DOCS / name).read_bytes())
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}

    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "chatbot", "ingest", str(folder), "-c", collection, "--json"],
                            env=cli_env(settings, RAGBOT_MAX_UPLOAD_MB=str(LIMIT_MB)), cwd=cwd, capture_output=True,
                            text=True, timeout=600, stdin=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    report = json.loads(result.stdout)
    failed = {Path(f["path"]).name: f["error"] for f in report["files_failed"]}
    expected_failures = {name for name, case in cases.items() if not case.ok}
    assert set(failed) == expected_failures, (set(failed) ^ expected_failures, failed)
    for name in expected_failures:
        assert_clear_reason(name, failed[name], cases[name])
    ok = [name for name, case in cases.items() if case.ok] + GOOD
    assert report["files_ok"] == report["documents_added"] == len(ok)

    stored = {Path(d.source).name: d for d in services.store.list_documents(collection)}
    assert set(stored) == set(ok)
    assert all(d.chunks > 0 for d in stored.values())
    long_line = stored["one-line-10mb.txt"]
    assert long_line.chunks >= len(cases["one-line-10mb.txt"].data) // 2000  # chunked (≤ 2,000 characters each)
    with services.pool.connection() as conn:
        longest = conn.execute(
            "SELECT max(length(k.text)), max(k.token_count) FROM chunks k JOIN documents d ON d.id = k.document_id"
            " JOIN collections c ON c.id = d.collection_id WHERE c.name = %s", (collection,)).fetchone()
        xxe_text = conn.execute("SELECT string_agg(text, ' ') FROM chunks WHERE document_id = %s",
                                (stored["xxe.docx"].id,)).fetchone()[0]
    assert longest[0] <= 2000 and longest[1] <= services.embedder.max_tokens
    assert "root:" not in xxe_text and "External entity" in xxe_text

    # the files were only read, no name reached a shell, nothing landed beside them or in the working directory
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before
    assert list(cwd.iterdir()) == []
    assert written_outside(tmp_path, settings.home, Path("/tmp"), shallow=(Path.cwd(), Path.home(), Path("/"))) == []
    assert seconds < 240, f"the hostile corpus took {seconds:.0f} s"


@pytest.mark.parametrize("name,data", [
    ("tables.html", b"<table><tr><td>" * 30_000 + b"cell"),  # was O(depth²): a descendant search per row
    ("rows.html", b"<tr><td><div>" * 30_000 + b"cell"),
    ("heading.md", b"# x" + b" \t" * 40_000 + b"y\n\nbody"),  # was O(n²): regex backtracking over blanks
    ("title.md", b"---\ntitle: a" + b" \t" * 40_000 + b"b\n---\n\nbody"),
])
def test_pathological_markup_loads_in_linear_time(name, data):
    """CPU time (not wall time: the machine is shared) well under what the quadratic versions took (minutes)."""
    from ingestion.loaders import load_bytes

    started = time.process_time()
    document = load_bytes(data, name)
    assert time.process_time() - started < 10
    assert document.sections[-1].text in ("cell", "body")


# --- through the upload API ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile_services(settings):
    """The product's services on the session database, with the upload limit these tests use."""
    from chatbot.services import Services

    # dozens of deliberately wrong credentials from one client: the login throttle (test_security_abuse) is
    # loosened here so that each is answered on its own merits
    services = Services(settings.model_copy(update={"max_upload_mb": LIMIT_MB, "max_new_tokens": 8,
                                                    "login_free_failures": 1000}))
    yield services
    services.close()


@pytest.fixture(scope="module")
def api(hostile_services, examples_ingested) -> str:
    from chatbot.credentials import AdminCredentials
    from chatbot.server import create_server

    credentials = AdminCredentials(*ADMIN, generated=False)
    with serving(create_server(hostile_services, credentials, with_ui=False)) as url:
        yield url


TRAVERSAL_NAMES = [f"../../x-{TOKEN}.md", f"..\\..\\x-{TOKEN}.md", f"/tmp/x-{TOKEN}.md", f"....//x-{TOKEN}.md",
                   f"%2e%2e%2fx-{TOKEN}.md", f"sub/dir/../../../x-{TOKEN}.md", f"~/x-{TOKEN}.md"]


def test_upload_api_reports_every_hostile_file_and_ingests_the_good_ones(api, hostile_services, tmp_path,
                                                                         collection):
    from ingestion.uploads import safe_filename

    cases = dict(hostile_cases())
    # The 10 MB single line (5,243 chunks, each embedded: 1–2 min here) goes through the CLI test; the upload path
    # gets a 1 MB one, which it handles the same way.
    del cases["one-line-10mb.txt"]
    cases["one-line-1mb.txt"] = Case(b"0123456789abcdefghijklmnopqrstuvwxyz" * (1024 * 1024 // 36), True)
    uploads = [(name, case) for name, case in cases.items()]
    # path traversal: each a fine Markdown file under a different dangerous name (ingested under a safe one)
    fine = Case(b"# Traversal\n\nA harmless page uploaded under a dangerous name.\n", True)
    uploads += [(name, fine) for name in TRAVERSAL_NAMES]
    uploads += [("." * 300 + ".md", Case(fine.data, False, ("unsupported",))),  # "md": a hidden name loses its dot
                ("a" * 1000 + ".md", fine)]  # shortened, keeping its extension
    uploads += [(name, Case((EXAMPLE_DOCS / name).read_bytes(), True)) for name in GOOD]
    files = [("files", (name, case.data, "application/octet-stream")) for name, case in uploads]

    response = httpx.post(f"{api}/api/documents", files=files, data={"collection": collection}, auth=ADMIN,
                          timeout=600)
    assert response.status_code == 200, response.text[:2000]
    report = response.json()
    failed = {f["path"]: f["error"] for f in report["files_failed"]}
    for shown in failed:
        assert "/" not in shown and "\\" not in shown and not shown.startswith("."), shown
    expected = {}
    for name, case in uploads:  # httpx sends '"' in a file name as %22 (as browsers do)
        expected.setdefault(safe_filename(name.replace('"', "%22")), []).append(case)
    assert set(failed) == {safe for safe, cs in expected.items() if not cs[-1].ok}, failed
    for safe, error in failed.items():
        assert_clear_reason(safe, error, expected[safe][-1])
    ok_names = {safe for safe, cs in expected.items() if cs[-1].ok}
    listed = httpx.get(f"{api}/api/documents", params={"collection": collection}, auth=ADMIN).json()
    assert {d["source"] for d in listed} == {f"upload:{safe}" for safe in ok_names}
    assert all(d["chunks"] > 0 for d in listed)
    long_line = next(d for d in listed if d["source"] == "upload:one-line-1mb.txt")
    assert long_line["chunks"] >= len(cases["one-line-1mb.txt"].data) // 2000  # chunked, not truncated

    # nothing was written for any upload: not at the traversal targets, not in RAGBOT_HOME, not in the cwd
    home = hostile_services.settings.home
    for base in (Path.cwd(), home, home / "x" / "y", Path("/tmp"), tmp_path):
        for name in TRAVERSAL_NAMES:
            assert not (base / name.replace("\\", "/")).exists()
    assert written_outside(tmp_path, home, Path("/tmp"), shallow=(Path.cwd(), Path.home(), Path("/"))) == []


def test_oversized_and_malformed_upload_requests_are_4xx(api, collection):
    big = ("files", ("big.txt", b"a " * ((LIMIT_MB + 1) * 1024 * 1024 // 2), "text/plain"))
    response = httpx.post(f"{api}/api/documents", files=[big], data={"collection": collection}, auth=ADMIN,
                          timeout=300)
    assert response.status_code == 200 and response.json()["files_ok"] == 0
    assert "limit" in response.json()["files_failed"][0]["error"]
    for bad in (
        httpx.post(f"{api}/api/documents", auth=ADMIN, timeout=60),  # no files
        # a part with an empty file name is a form field, not a file; a 5,000-character name is refused by the
        # multipart parser: the whole request is a 4xx, and nothing of it is ingested
        httpx.post(f"{api}/api/documents", auth=ADMIN, files=[("files", ("", b"text", "text/plain"))],
                   data={"collection": collection}, timeout=60),
        httpx.post(f"{api}/api/documents", auth=ADMIN, files=[("files", ("a" * 5000 + ".md", b"text", "text/plain"))],
                   data={"collection": collection}, timeout=60),
        httpx.post(f"{api}/api/documents", auth=ADMIN, content=b"--x\r\nnot multipart", timeout=60,
                   headers={"content-type": "multipart/form-data; boundary=x"}),
        httpx.post(f"{api}/api/documents", auth=ADMIN, json={"files": ["a"]}, timeout=60),
        httpx.delete(f"{api}/api/documents/1%20OR%201=1", auth=ADMIN),
        httpx.delete(f"{api}/api/documents/99999999999999999999999", auth=ADMIN),
    ):
        assert 400 <= bad.status_code < 500, (bad.request.url, bad.status_code, bad.text[:300])
    assert httpx.get(f"{api}/api/documents", params={"collection": collection}, auth=ADMIN).json() == []


def test_request_bodies_past_the_cap_are_413_before_they_are_read(api):
    from chatbot.api.body_limit import SMALL_BODY_BYTES, UPLOAD_FILES

    chat = httpx.post(f"{api}/v1/chat/completions", content=b"{" + b" " * SMALL_BODY_BYTES + b"}",
                      headers={"content-type": "application/json"}, timeout=60)
    assert chat.status_code == 413 and "too large" in chat.json()["detail"]

    def endless():  # chunked: no Content-Length to refuse up front; counted as it arrives
        yield b"--x\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.txt\"\r\n\r\n"
        for _ in range(UPLOAD_FILES * LIMIT_MB + 2):
            yield b"a" * (1024 * 1024)

    upload = httpx.post(f"{api}/api/documents", content=endless(), auth=ADMIN, timeout=120,
                        headers={"content-type": "multipart/form-data; boundary=x"})
    assert upload.status_code == 413 and "too large" in upload.json()["detail"]
    assert httpx.get(f"{api}/healthz", timeout=30).status_code == 200


# --- injection, escaping, credentials -----------------------------------------------------------------------------

INJECTIONS = ["'; DROP TABLE chunks; --", "x' OR '1'='1", "1; DELETE FROM documents", "\\'; TRUNCATE collections; --",
              "examples' UNION SELECT id, text FROM chunks --", "$$; DROP TABLE documents; $$", "%' OR 1=1 --"]
TABLES = ("collections", "documents", "chunks", "conversations", "messages", "schema_migrations")


def table_counts(services) -> dict[str, int]:
    with services.pool.connection() as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


def test_sql_injection_strings_change_nothing(api, hostile_services, settings, tmp_path):
    services = hostile_services
    before = table_counts(services)
    asked = 0
    for n, text in enumerate(INJECTIONS):
        for collection in ("examples", text) if n < 3 else (text,):  # questions to "examples" really generate
            asked += 1
            response = httpx.post(f"{api}/v1/chat/completions", timeout=300, json={
                "model": "base", "collection": collection, "messages": [{"role": "user", "content": text}]})
            assert response.status_code == 200, response.text
            if collection != "examples":
                assert response.json()["not_covered"] is True  # no such collection: nothing retrieved
        listed = httpx.get(f"{api}/api/documents", params={"collection": text}, auth=ADMIN)
        assert listed.status_code == 200 and listed.json() == []
        for mode in ("vector", "fts", "hybrid"):
            retriever = services.retriever("examples", mode=mode, metadata_filter={text: text, "page": text})
            assert retriever.invoke(text) == []
            assert services.retriever(text, mode=mode).invoke(text) == []
    after = table_counts(services)
    assert after["conversations"] == before["conversations"] + asked and after["messages"] == before["messages"] + asked
    assert {t: after[t] for t in ("collections", "documents", "chunks", "schema_migrations")} == \
        {t: before[t] for t in ("collections", "documents", "chunks", "schema_migrations")}

    # names given to the CLI are data too: ingest into, then delete, a collection named like an injection
    name = "x'); DELETE FROM documents; --"
    doc = tmp_path / "note.md"
    doc.write_text("# Note\n\nA short note about injection-proof collection names.\n")
    env = cli_env(settings)
    run = subprocess.run([sys.executable, "-m", "chatbot", "ingest", str(doc), "-c", name, "--json"], env=env,
                         capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr
    assert [d.collection for d in services.store.list_documents(name)] == [name]
    wildcard = subprocess.run([sys.executable, "-m", "chatbot", "delete", "--collection", "' OR 1=1 --"], env=env,
                              capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert wildcard.returncode == 0 and "(0 documents)" in wildcard.stdout
    assert table_counts(services)["documents"] == before["documents"] + 1
    services.store.delete_collection(name)
    assert table_counts(services)["documents"] == before["documents"]


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append((tag, attrs))


def test_script_in_documents_is_escaped_in_the_sources_panel(services, tmp_path, collection):
    from chatbot.ui.formatting import numbered_retrieved, sources_html

    doc = tmp_path / "<img src=x onerror=alert(3)>.md"
    doc.write_text('---\ntitle: "<script>alert(0)</script> Evil title"\n---\n# <b onmouseover=alert(4)>Head</b>\n\n'
                   "Resetting the router: <script>alert(1)</script> then <img src=x onerror=alert(2)> and "
                   '<a href="javascript:alert(5)">click</a> to finish the router reset.\n')
    assert services.ingestor.ingest_paths([doc], collection).files_ok == 1
    docs = services.retriever(collection).invoke("router reset")
    assert docs, "the document was not retrieved"
    html = sources_html(numbered_retrieved(docs), heading="<script>alert(6)</script>")
    parser = _Tags()
    parser.feed(html)
    assert {tag for tag, _ in parser.tags} <= {"div", "span", "b"}
    assert all(not name.startswith("on") and "javascript:" not in (value or "") for _, attrs in parser.tags
               for name, value in attrs)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;img src=x onerror=alert(2)&gt;" in html
    assert "<script" not in html.lower() and "<img" not in html.lower()


def test_admin_endpoints_refuse_missing_wrong_and_malformed_credentials(api):
    def basic(raw: bytes) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}

    user, password = ADMIN
    refused = [{}, basic(f"{user}:wrong".encode()), basic(f"root:{password}".encode()), basic(b"admin:"),
               basic(f"{user}:{password} ".encode()), basic(f"{user.upper()}:{password}".encode()),
               basic(user.encode()), basic(b"\xff\xfe:\xff"), {"Authorization": "Basic !!!not-base64!!!"},
               {"Authorization": "Bearer " + password}, {"Authorization": "Basic"},
               {"Authorization": "Basic " + "A" * 20000}, basic(f"{user}:{password}\x00".encode())]
    requests = [("GET", "/api/documents"), ("POST", "/api/documents"), ("DELETE", "/api/documents/1")]
    for headers in refused:
        for method, path in requests:
            response = httpx.request(method, f"{api}{path}", headers=headers, timeout=60)
            assert response.status_code == 401, (headers, method, path, response.status_code)
            assert response.headers["www-authenticate"].startswith("Basic")
            assert password not in response.text
    assert httpx.get(f"{api}/api/documents", auth=ADMIN).status_code == 200


# --- property-based ----------------------------------------------------------------------------------------------

_TEXT = st.characters(codec="utf-8", exclude_categories=("Cc", "Cf", "Cs", "Co", "Cn"), exclude_characters="\ufffd")
_WORD = st.text(_TEXT, min_size=1, max_size=14)
_PIECES = st.one_of(_WORD, _WORD, _WORD, st.sampled_from([" ", "  ", "\n", "\n\n", "\t", " \n "]),
                    st.text("abcxyz", min_size=100, max_size=1500), st.text("0123456789", min_size=20, max_size=300))


@pytest.fixture(scope="module")
def tokenizer(services):
    return services.embedder.tokenizer


@functools.cache
def _visible(tokenizer, char: str) -> bool:
    return bool(tokenizer.tokenize(char))


def _stream(text: str, tokenizer) -> str:
    """The text without whitespace and without what the tokenizer drops (a lone combining mark such as '֑' has no
    token: a chunk of only such characters would embed as nothing, so the chunker drops it)."""
    return "".join(char for char in "".join(text.split()) if _visible(tokenizer, char))


def _is_subsequence(needle: str, haystack: str) -> bool:
    it = iter(haystack)
    return all(char in it for char in needle)


@hypothesis_settings(max_examples=60, **HYPOTHESIS)
@given(pieces=st.lists(_PIECES, min_size=1, max_size=200), size=st.integers(16, 64), overlap_share=st.floats(0, 0.5),
       sections=st.integers(1, 3))
@example(pieces=["\u0591"], size=16, overlap_share=0.0, sections=1)  # a lone combining mark: no token, no chunk
def test_chunking_properties(tokenizer, pieces, size, overlap_share, sections):
    """Any text: every chunk fits, none is empty, chunks are pieces of the input, together they cover it in order
    (and without overlap they are exactly the input, whitespace and tokenless characters aside)."""
    from ingestion.chunking import Chunker
    from ingestion.loaders import LoadedDocument, Section

    text = "".join(pieces)
    parts = [text[i::sections] for i in range(sections)] if sections > 1 else [text]
    document = LoadedDocument("t", [Section(p, {"n": i}) for i, p in enumerate(parts)], {})
    for overlap in sorted({0, int(size * overlap_share)}):
        chunker = Chunker(tokenizer, chunk_size=size, chunk_overlap=overlap, max_tokens=254)
        chunks = chunker.split(document)
        event(f"chunks: {min(len(chunks), 10)}{'+' if len(chunks) >= 10 else ''}")
        for chunk in chunks:
            assert chunk.text.strip() == chunk.text and chunk.text, repr(chunk.text)
            assert 0 < chunk.token_count <= size
            assert chunk.token_count == len(tokenizer.tokenize(chunk.text))
        for i, part in enumerate(parts):
            mine = [_stream(c.text, tokenizer) for c in chunks if c.metadata["n"] == i]
            source = _stream(part, tokenizer)
            assert all(piece in source for piece in mine)
            assert _is_subsequence(source, "".join(mine))
            if overlap == 0:
                assert "".join(mine) == source


_SCALAR = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
           | st.text(max_size=20))
_JSON = st.recursive(_SCALAR,
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                     max_leaves=8)
_MESSAGE = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "assistant", "system", "tool", "bogus", ""]) | _JSON,
     "content": st.text(max_size=60) | st.none() | _JSON | st.just("x" * 4001)})
_NASTY = st.sampled_from(["a\x00b", "'; DROP TABLE chunks; --", "<script>alert(1)</script>", "\u202e\u200b", "%s%n"])
_QUESTION = (st.text(min_size=1, max_size=80) | _NASTY).filter(str.strip)
_NEARLY_VALID = st.fixed_dictionaries(  # well-formed requests (→ 200/404) to an empty collection: no generation
    {"model": st.sampled_from(["base", "finetuned:no-such-adapter", "nope"]),
     "messages": st.tuples(st.lists(st.fixed_dictionaries({"role": st.sampled_from(["system", "user", "assistant"]),
                                                           "content": st.text(max_size=40)}), max_size=2),
                           _QUESTION).map(lambda h: [*h[0], {"role": "user", "content": h[1]}]),
     "collection": st.just(f"fuzz-{TOKEN}") | _NASTY},
    optional={"stream": st.booleans(), "conversation_id": st.uuids().map(str) | st.just("not-a-uuid"),
              "temperature": st.floats(0, 2) | st.none(), "max_tokens": st.integers(-5, 10**6) | st.none()})
_BODY = st.one_of(
    _NEARLY_VALID,
    _JSON,
    st.fixed_dictionaries(
        {"model": st.sampled_from(["base", "finetuned:no-such-adapter", "nope", "", "x" * 201]) | _JSON,
         "messages": st.lists(_MESSAGE, max_size=3) | _JSON},
        optional={"stream": st.booleans() | _JSON, "collection": st.just(f"fuzz-{TOKEN}") | _JSON,
                  "conversation_id": st.uuids().map(str) | _JSON, "use_retrieval": st.just(True) | _JSON,
                  "temperature": _JSON, "max_tokens": _JSON}),
)


@hypothesis_settings(max_examples=30, **HYPOTHESIS)
@given(body=_BODY)
def test_chat_completions_never_500_on_any_json(api, body):
    response = httpx.post(f"{api}/v1/chat/completions", json=body, timeout=300)
    event(f"status {response.status_code}")
    assert response.status_code in (200, 404, 422, 503), (body, response.status_code, response.text[:500])
    assert response.headers["content-type"].split(";")[0] in ("application/json", "text/event-stream")


@pytest.mark.parametrize("raw,content_type", [
    (b"{not json", "application/json"), (b"", "application/json"), (b"\xff\xfe\x00", "application/json"),
    (b'{"model": "base", "messages": [{"role": "user", "content": "hi"}]}', "text/plain"),
    (b"[" * 5000 + b"]" * 5000, "application/json"), (b'{"a": ' * 3000 + b"1" + b"}" * 3000, "application/json"),
    (b'"just a string"', "application/json"), (b"null", "application/json"),
])
def test_chat_completions_rejects_malformed_bodies(api, raw, content_type):
    response = httpx.post(f"{api}/v1/chat/completions", content=raw, headers={"content-type": content_type},
                          timeout=60)
    assert response.status_code in (400, 422), (raw[:40], response.status_code, response.text[:300])


# --- secrets and request logs -------------------------------------------------------------------------------------


class Served:
    """`ragbot serve --no-ui` in a subprocess, its output collected by threads (a full pipe would block it)."""

    def __init__(self, settings, cwd: Path, **env: str) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "chatbot", "serve", "--no-ui", "--port", str(port)],
            env=cli_env(settings, PYTHONUNBUFFERED="1", **env), cwd=cwd, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        self.lines: list[str] = []
        self.readers = [threading.Thread(target=self._read, args=(pipe,), daemon=True)
                        for pipe in (self.process.stdout, self.process.stderr)]
        for reader in self.readers:
            reader.start()
        deadline = time.time() + 180
        while True:
            assert self.process.poll() is None, self.output
            assert time.time() < deadline, "ragbot serve did not come up in 180 s"
            try:
                if httpx.get(f"{self.url}/healthz", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.3)

    def _read(self, pipe) -> None:
        for line in pipe:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def stop(self) -> str:
        """Stop as Ctrl-C does; everything it printed."""
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        for reader in self.readers:
            reader.join(10)
        return self.output


def test_serve_logs_one_json_line_per_request_and_never_a_secret(settings, examples_ingested, tmp_path):
    password, api_key = "pw-" + secrets.token_hex(12), "sk-" + secrets.token_hex(12)
    wrong, bearer = "wrong-" + secrets.token_hex(6), "tok-" + secrets.token_hex(6)
    served = Served(settings, tmp_path, RAGBOT_ADMIN_PASSWORD=password, RAGBOT_OPENAI_API_KEY=api_key)
    url = served.url
    try:
        responses = [
            httpx.get(f"{url}/healthz"),
            httpx.get(f"{url}/healthz", headers={"X-Request-ID": "trace-42.abc:1"}),
            httpx.get(f"{url}/healthz", headers={"X-Request-ID": "x" * 300}),
            httpx.get(f"{url}/healthz", headers={"X-Request-ID": "<script>"}),
            httpx.get(f"{url}/api/documents"),
            httpx.get(f"{url}/api/documents", auth=("admin", wrong)),
            httpx.get(f"{url}/api/documents", headers={"Authorization": f"Bearer {bearer}"}),
            httpx.get(f"{url}/api/documents", auth=("admin", password), params={"token": wrong}),
            httpx.post(f"{url}/v1/chat/completions", json={"model": "", "messages": [
                {"role": "user", "content": f"my password is {password} and {wrong}"}]}),
            httpx.post(f"{url}/api/documents", auth=("admin", password),
                       files=[("files", ("secret.txt", f"the key is {api_key}".encode(), "text/plain"))],
                       data={"collection": f"secrets-{TOKEN}"}, timeout=300),
            httpx.get(f"{url}/no-such-page"),
        ]
    finally:
        logs = served.stop()
    assert [r.status_code for r in responses] == [200, 200, 200, 200, 401, 401, 401, 200, 422, 200, 404]
    for secret in (password, api_key, wrong, bearer):
        assert secret not in logs, f"a secret leaked into the logs: {secret[:6]}…"
    assert "Authorization" not in logs and "Basic " not in logs

    records = [json.loads(line) for line in logs.splitlines() if line.startswith("{") and '"request_id"' in line]
    by_id = {r["request_id"]: r for r in records}
    assert responses[1].headers["x-request-id"] == "trace-42.abc:1"
    for response in responses[2:4]:
        assert str(uuid.UUID(response.headers["x-request-id"])) == response.headers["x-request-id"]
    for response in responses:
        record = by_id[response.headers["x-request-id"]]
        assert set(record) == {"time", "request_id", "method", "path", "status", "duration_ms"}
        assert (record["method"], record["path"], record["status"]) == (
            response.request.method, response.request.url.path, response.status_code)
        assert record["duration_ms"] >= 0
    assert len({r.headers["x-request-id"] for r in responses}) == len(responses)


def test_generated_admin_password_is_printed_exactly_once_and_works(settings, tmp_path):
    served = Served(settings, tmp_path)  # no RAGBOT_ADMIN_PASSWORD, and no .env in its working directory
    try:
        match = re.search(r"password\s+'([A-Za-z0-9_-]{16,})'", served.output)  # printed before it listens
        assert match, served.output[-2000:]
        generated = match[1]
        assert httpx.get(f"{served.url}/api/documents", auth=("admin", generated)).status_code == 200
        assert httpx.get(f"{served.url}/api/documents", auth=("admin", generated[:-1])).status_code == 401
        assert httpx.get(f"{served.url}/api/documents", auth=("admin", "guess")).status_code == 401
    finally:
        logs = served.stop()
    assert logs.count(generated) == 1


_CHAT_BODY = '{"model": %s, "collection": %s, "messages": [{"role": "user", "content": %s}]%s}'


@pytest.mark.parametrize("model,collection,content,extra,status", [
    ('"base"', '"fuzz"', '"reset\\u0000 the hub"', "", 422),  # JSON may carry NUL and lone surrogates;
    ('"base"', '"fu\\u0000zz"', '"reset the hub"', "", 422),  # Postgres and UTF-8 cannot take them
    ('"base"', '"fuzz"', '"reset \\ud800 the hub"', "", 422),
    ('"base"', '"\\udfff"', '"reset the hub"', "", 422),
    ('"base\\u0000"', '"fuzz"', '"reset"', "", 422),
    ('"base"', '"fuzz"', '[{"type": "text", "text": 5}, {"text": ["x"]}, "y"]', "", 422),  # no text: no question
    ('"base"', '"fuzz"', '[{"type": "text", "text": "reset"}, {"text": null}]', "", 200),
    ('"base"', '"fuzz"', '"reset the hub"', ', "temperature": NaN, "max_tokens": -1', 200),  # ignored knobs
])
def test_chat_completions_with_unstorable_or_odd_values(api, model, collection, content, extra, status):
    raw = (_CHAT_BODY % (model, collection, content, extra)).encode()
    response = httpx.post(f"{api}/v1/chat/completions", content=raw, headers={"content-type": "application/json"},
                          timeout=120)
    assert response.status_code == status, (raw, response.status_code, response.text[:300].encode())
    assert response.json()


def test_admin_routes_refuse_unstorable_values(api):
    fine = ("files", ("fine.md", b"# Fine\n\nFine text.\n", "text/markdown"))
    upload = httpx.post(f"{api}/api/documents", auth=ADMIN, files=[fine], data={"collection": "nul\x00name"},
                        timeout=120)
    assert upload.status_code == 422 and "invalid data" in upload.json()["detail"]
    listed = httpx.get(f"{api}/api/documents", params={"collection": "nul\x00name"}, auth=ADMIN)
    assert listed.status_code == 422

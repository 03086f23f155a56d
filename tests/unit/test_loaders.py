"""Format loaders: sections, metadata and titles per format, and a one-line IngestError for every bad file."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import docx
import pytest
from pypdf import PdfWriter

from benchmarks.hostile_ingest import pdf_file
from ingestion.errors import IngestError
from ingestion.loaders import SUPPORTED_EXTENSIONS, LoadedDocument, load_bytes, load_file

MB = 1024 * 1024


def make_pdf(pages: list[str], title: str | None = None) -> bytes:
    """A minimal valid PDF: each page's lines in Helvetica (an empty string gives a page without text)."""
    count = len(pages)
    font = 3 + 2 * count
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(count))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", f"<< /Type /Pages /Kids [{kids}] /Count {count} >>".encode()]
    for i, text in enumerate(pages):
        shows = " ".join(f"({line}) '" for line in text.split("\n")) if text else ""
        stream = f"BT /F1 12 Tf 72 720 Td 14 TL {shows} ET".encode()
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R "
            f"/Resources << /Font << /F1 {font} 0 R >> >> >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    if title:
        objects.append(f"<< /Title ({title}) >>".encode())
    return pdf_file(objects, f" /Info {len(objects)} 0 R" if title else "")


def encrypt(pdf: bytes, user_password: str) -> bytes:
    writer = PdfWriter(clone_from=io.BytesIO(pdf))
    writer.encrypt(user_password, owner_password="owner")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx_bytes(document: docx.document.Document) -> bytes:
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return out.getvalue()


def reason(data: bytes, filename: str) -> str:
    with pytest.raises(IngestError) as caught:
        load_bytes(data, filename)
    message = str(caught.value)
    assert "\n" not in message and filename not in message
    return message


def headings(document: LoadedDocument) -> list[str | None]:
    return [section.metadata.get("heading") for section in document.sections]


# --- dispatch, sizes, common text errors ----------------------------------------------------------------


def test_supported_extensions() -> None:
    expected = {".pdf", ".html", ".htm", ".md", ".markdown", ".txt", ".text", ".rst", ".docx"}
    assert expected == SUPPORTED_EXTENSIONS


def test_extension_is_matched_case_insensitively() -> None:
    assert load_bytes(b"Hello", "NOTES.TXT").metadata == {"format": "text"}


@pytest.mark.parametrize("filename", ["virus.exe", "README"])
def test_unsupported_file_type_lists_the_supported_ones(filename: str) -> None:
    message = reason(b"MZ", filename)
    assert message.startswith("unsupported file type")
    assert ".docx, .htm, .html, .markdown, .md, .pdf, .rst, .text, .txt" in message
    assert ("'.exe'" in message) == (filename == "virus.exe")


def test_file_over_the_limit_is_refused_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.txt"
    path.write_bytes(b"a" * (MB + MB // 2))

    def no_reading(*args: object, **kwargs: object) -> None:
        raise AssertionError("the file was opened")

    monkeypatch.setattr(Path, "open", no_reading)
    with pytest.raises(IngestError, match=r"file is 1\.5 MB .* over the 1\.0 MB limit"):
        load_file(path, max_bytes=MB)


def test_load_file_reads_a_file_within_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "notes.md"
    path.write_text("# Notes\n\nBody text.\n", encoding="utf-8")
    document = load_file(path, max_bytes=MB)
    assert document.title == "Notes"
    assert document.sections[0].text == "Body text."


def test_missing_file_is_an_ingest_error(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="cannot read the file"):
        load_file(tmp_path / "gone.txt", max_bytes=MB)


@pytest.mark.parametrize("filename", ["a.pdf", "a.html", "a.md", "a.txt", "a.docx"])
def test_empty_file(filename: str) -> None:
    assert reason(b"", filename) == "empty file (0 bytes)"


@pytest.mark.parametrize("filename", ["a.html", "a.md", "a.txt", "a.rst"])
def test_whitespace_only_has_no_text(filename: str) -> None:
    assert reason(b"  \n\t\n  ", filename) == "no text could be extracted"


@pytest.mark.parametrize("filename", ["a.html", "a.md", "a.txt"])
def test_nul_bytes_are_binary_data(filename: str) -> None:
    assert reason(b"\x7fELF\x02\x01\x01\x00\x00\x00 text", filename).startswith("binary data, not text")


@pytest.mark.parametrize("filename", ["a.html", "a.md", "a.txt"])
def test_invalid_utf8_names_the_byte_offset(filename: str) -> None:
    assert reason(b"caf\xc3\xa9 ok, then \xff bad", filename) == "invalid UTF-8 at byte 15"


def test_utf8_bom_and_crlf_are_fine() -> None:
    document = load_bytes(b"\xef\xbb\xbfFirst line\r\nsecond line\r\n", "a.txt")
    assert document.title == "First line"
    assert document.sections[0].text == "First line\nsecond line"


@pytest.mark.parametrize("filename", ["a.pdf", "a.html", "a.md", "a.txt", "a.docx", "a.rst"])
@pytest.mark.parametrize(
    "data",
    [b"%PDF-1.7\n1 0 obj << /Type /Catalog", b"PK\x03\x04\x14\x00garbage", bytes(range(256)) * 4, b"<<<>>>{{{"],
)
def test_garbage_never_escapes_as_another_exception(filename: str, data: bytes) -> None:
    try:
        load_bytes(data, filename)
    except IngestError as err:
        assert str(err) and "\n" not in str(err)


# --- PDF ---------------------------------------------------------------------------------------------


def test_pdf_has_one_section_per_page_with_text() -> None:
    pdf = make_pdf(["Install the exam-\nple package", "", "Second   page   text"], title="User Guide")
    document = load_bytes(pdf, "guide.pdf")
    assert document.title == "User Guide"
    assert document.metadata == {"format": "pdf", "pages": 3}
    assert [section.metadata for section in document.sections] == [{"page": 1}, {"page": 3}]
    assert document.sections[0].text == "Install the example package"
    assert document.sections[1].text == "Second page text"


def test_pdf_without_a_title_uses_the_file_stem() -> None:
    assert load_bytes(make_pdf(["Some text"]), "annual-report.pdf").title == "annual-report"


def test_pdf_with_no_text_layer() -> None:
    assert reason(make_pdf(["", ""]), "scan.pdf") == "no text could be extracted"


def test_truncated_pdf() -> None:
    pdf = make_pdf(["Some text on a page"])
    assert reason(pdf[: len(pdf) // 2], "cut.pdf").startswith("corrupt or unreadable PDF")


def test_password_protected_pdf() -> None:
    assert "password-protected" in reason(encrypt(make_pdf(["Secret text"]), "secret"), "locked.pdf")


def test_pdf_encrypted_with_an_empty_password_is_read() -> None:
    document = load_bytes(encrypt(make_pdf(["Open text"]), ""), "restricted.pdf")
    assert document.sections[0].text == "Open text"


# --- HTML --------------------------------------------------------------------------------------------

PAGE = """<!DOCTYPE html>
<html><head><title>  Widget
  Manual </title><style>.x { color: red }</style><script>var tracking = 1;</script></head>
<body>
<header>Site banner</header>
<nav><a href="/">Home</a> <a href="/about">About us</a></nav>
<div role="navigation">Breadcrumb trail</div>
<div class="sidebar">Sidebar links</div>
<main>
  <h1>Widget <a class="headerlink" href="#w">¶</a></h1>
  <p>Intro   paragraph
     about widgets.</p>
  <h2>Install</h2>
  <p>Run the <code>installer</code>.</p>
  <ul><li>first step</li><li>second step</li></ul>
  <h3>Linux</h3>
  <pre>apt install widget
  widget --version</pre>
  <table><tr><th>Option</th><th>Meaning</th></tr><tr><td><p>-v</p></td><td>verbose</td></tr></table>
  <aside>Related ads</aside>
  <form><label>Subscribe</label></form>
  <h2>Use</h2>
  <p>Press <b>start</b>.<!-- a comment --></p>
  <noscript>Enable JavaScript</noscript>
</main>
<footer>Copyright footer</footer>
</body></html>
"""


def test_html_sections_follow_the_heading_path() -> None:
    document = load_bytes(PAGE.encode(), "widget.html")
    assert document.title == "Widget Manual"
    assert document.metadata == {"format": "html"}
    assert headings(document) == ["Widget", "Widget > Install", "Widget > Install > Linux", "Widget > Use"]
    texts = [section.text for section in document.sections]
    assert texts[0] == "Intro paragraph about widgets."
    assert texts[1] == "Run the installer.\n\nfirst step\nsecond step"
    assert texts[2] == "apt install widget\n  widget --version\n\nOption | Meaning\n-v | verbose"
    assert texts[3] == "Press start."


def test_html_drops_navigation_scripts_and_page_furniture() -> None:
    everything = " ".join(section.text for section in load_bytes(PAGE.encode(), "widget.html").sections)
    for junk in ["Site banner", "Home", "About us", "Breadcrumb", "Sidebar", "tracking", "color", "Related ads"]:
        assert junk not in everything
    for junk in ["Subscribe", "Enable JavaScript", "Copyright", "comment", "¶"]:
        assert junk not in everything


def test_html_without_main_uses_the_body_and_drops_its_header() -> None:
    page = b"<body><header><h1>Site</h1></header><h2>Topic</h2><p>Text.</p><footer>Foot</footer></body>"
    document = load_bytes(page, "page.htm")
    assert [(section.text, section.metadata) for section in document.sections] == [("Text.", {"heading": "Topic"})]
    assert document.title == "page"


def test_html_article_keeps_its_own_header_and_title_falls_back_to_h1() -> None:
    page = b"<nav>Menu</nav><article><header><h1>Post</h1></header><p>Body.</p></article><p>Outside.</p>"
    document = load_bytes(page, "post.html")
    assert document.title == "Post"
    assert [(section.text, section.metadata) for section in document.sections] == [("Body.", {"heading": "Post"})]


def test_html_text_before_any_heading_has_no_heading_key() -> None:
    document = load_bytes(b"<p>Lead.</p><h2>Part</h2><p>More.</p>", "a.html")
    assert [section.metadata for section in document.sections] == [{}, {"heading": "Part"}]


def test_html_declared_charset_is_honoured() -> None:
    page = '<html><head><meta charset="iso-8859-1"></head><body><p>Café crème</p></body></html>'
    assert load_bytes(page.encode("latin-1"), "a.html").sections[0].text == "Café crème"


def test_html_invalid_in_its_declared_charset() -> None:
    page = b'<meta http-equiv="Content-Type" content="text/html; charset=shift_jis"><p>\x81\x20</p>'
    offset = page.index(b"\x81")
    assert reason(page, "a.html") == f"invalid shift_jis at byte {offset}"


def test_deeply_nested_html_does_not_crash() -> None:
    depth = 20_000
    page = "<div>" * depth + "<h2>Deep</h2><p>bottom text</p>" + "</div>" * depth
    document = load_bytes(page.encode(), "deep.html")
    assert [(section.text, section.metadata) for section in document.sections] == [("bottom text", {"heading": "Deep"})]


# --- Markdown ----------------------------------------------------------------------------------------


def test_markdown_sections_headings_and_code_fences() -> None:
    text = """<!-- editor settings
     kept out of the text -->
Lead paragraph.

# Guide

Intro *text*.

## Setup ##

```bash
# not a heading: a shell comment
make install
```

~~~
## also not a heading
~~~

### Details
#hashtag is not a heading either.
"""
    document = load_bytes(text.encode(), "guide.md")
    assert document.title == "Guide"
    assert document.metadata == {"format": "markdown"}
    assert headings(document) == [None, "Guide", "Guide > Setup", "Guide > Setup > Details"]
    assert document.sections[0].text == "Lead paragraph."
    assert document.sections[1].text == "Intro *text*."
    assert document.sections[2].text == (
        "```bash\n# not a heading: a shell comment\nmake install\n```\n\n~~~\n## also not a heading\n~~~"
    )
    assert document.sections[3].text == "#hashtag is not a heading either."


def test_markdown_front_matter_is_stripped_and_gives_the_title() -> None:
    text = '---\ntitle: "Release notes"\ntags: [a, b]\n---\n# Version 2\nNew things.\n'
    document = load_bytes(text.encode(), "notes.markdown")
    assert document.title == "Release notes"
    assert [(section.text, section.metadata) for section in document.sections] == [
        ("New things.", {"heading": "Version 2"})
    ]


def test_markdown_without_headings_uses_the_stem() -> None:
    assert load_bytes(b"Just a paragraph.\n", "jottings.md").title == "jottings"


# --- plain text --------------------------------------------------------------------------------------


def test_text_is_one_section_titled_by_its_first_line() -> None:
    document = load_bytes(b"\n\nRelease Notes\n\nEverything changed.\n", "notes.txt")
    assert document.title == "Release Notes"
    assert document.metadata == {"format": "text"}
    assert [(section.text, section.metadata) for section in document.sections] == [
        ("Release Notes\n\nEverything changed.", {})
    ]


def test_text_title_skips_rst_overlines_and_long_first_lines() -> None:
    assert load_bytes(b"=====\nTitle\n=====\n\nBody.\n", "doc.rst").title == "Title"
    assert load_bytes(("word " * 30).encode(), "long-line.text").title == "long-line"


# --- DOCX --------------------------------------------------------------------------------------------


def make_docx(core_title: str = "") -> docx.document.Document:
    document = docx.Document()
    document.core_properties.title = core_title
    document.add_paragraph("Handbook", style="Title")
    document.add_paragraph("Welcome text.")
    document.add_heading("Policies", level=1)
    document.add_paragraph("All staff must read this.")
    document.add_heading("Leave", level=2)
    table = document.add_table(rows=2, cols=3)
    table.cell(0, 0).merge(table.cell(0, 1)).text = "Kind of leave"
    table.cell(0, 2).text = "Days"
    table.cell(1, 0).text = "Annual"
    table.cell(1, 1).text = "paid"
    table.cell(1, 2).text = "25"
    document.add_heading("Travel", level=1)
    document.add_paragraph("Book early.")
    return document


def test_docx_sections_headings_and_tables() -> None:
    document = load_bytes(docx_bytes(make_docx()), "handbook.docx")
    assert document.title == "Handbook"
    assert document.metadata == {"format": "docx"}
    assert [(section.text, section.metadata) for section in document.sections] == [
        ("Welcome text.", {"heading": "Handbook"}),
        ("All staff must read this.", {"heading": "Handbook > Policies"}),
        ("Kind of leave | Days\nAnnual | paid | 25", {"heading": "Handbook > Policies > Leave"}),
        ("Book early.", {"heading": "Handbook > Travel"}),
    ]


def test_docx_core_title_wins() -> None:
    assert load_bytes(docx_bytes(make_docx("Staff Handbook 2025")), "h.docx").title == "Staff Handbook 2025"


def test_docx_title_falls_back_to_first_heading_then_stem() -> None:
    document = docx.Document()
    document.add_paragraph("Preface.")
    document.add_heading("Chapter One", level=1)
    document.add_paragraph("Text.")
    assert load_bytes(docx_bytes(document), "book.docx").title == "Chapter One"
    plain = docx.Document()
    plain.add_paragraph("Only text.")
    assert load_bytes(docx_bytes(plain), "memo.docx").title == "memo"


def test_docx_that_is_not_a_zip() -> None:
    assert reason(b"This is not a zip archive at all", "a.docx") == "corrupt DOCX: not a zip archive"


def test_docx_without_document_xml() -> None:
    data = zip_bytes({"[Content_Types].xml": b"<Types/>", "word/other.xml": b"<x/>"})
    assert reason(data, "a.docx") == "corrupt DOCX: the archive has no word/document.xml"


def test_docx_zip_bomb_is_refused_before_parsing() -> None:
    data = zip_bytes({"[Content_Types].xml": b"<Types/>", "word/document.xml": b" " * (20 * MB)})
    message = reason(data, "bomb.docx")
    assert "zip bomb" in message and "20.0 MB" in message


def test_docx_with_broken_xml() -> None:
    source = zipfile.ZipFile(io.BytesIO(docx_bytes(make_docx())))
    entries = {name: source.read(name) for name in source.namelist()}
    entries["word/document.xml"] = b"<w:document><unclosed>"
    assert reason(zip_bytes(entries), "a.docx").startswith("corrupt or unreadable DOCX")


def test_a_stray_broken_byte_in_a_long_text_is_replaced_not_fatal() -> None:
    text = ("A long changelog line that is perfectly fine UTF-8. " * 400).encode() + b"O\xc4uz fixed it.\n"
    document = load_bytes(text, "CHANGES.txt")
    assert "\ufffd" in document.sections[-1].text and "fixed it" in document.sections[-1].text
    with pytest.raises(IngestError, match="invalid UTF-8 at byte 3"):
        load_bytes("caf\xe9 cr\xe8me".encode("latin-1"), "short.txt")  # mostly broken: another encoding


def test_html_canonical_link_is_kept_for_web_pages() -> None:
    page = b'<html><head><link rel="canonical" href=" https://help.example.com/a/ "></head><p>Hi.</p></html>'
    assert load_bytes(page, "page.html").metadata == {"format": "html", "canonical": "https://help.example.com/a/"}

"""Reading and chunking knowledge-base files (markdown, txt, pdf, html) for the RAG store.

Pure functions, no store: :func:`discover` lists the files, :func:`load_text` turns one into
text, :func:`split_document` cuts it into :class:`Chunk` objects with langchain text splitters
(markdown-header aware for markdown). Each chunk keeps ``source`` (path relative to the
knowledge base), ``doc_type`` (top folder), ``title`` (first heading or file name) and
``position``. With ``contextual=True`` (the default) every chunk starts with a one-line
header ``title [file name] (doc_type) > section`` so that a chunk cut from the middle of a document still
says what it is about; both the embedder and BM25 see it (measured in ``bench/rag.py``).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

TEXT_SUFFIXES = {".md", ".markdown", ".txt"}
HTML_SUFFIXES = {".html", ".htm"}
SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | {".pdf"}
HEADERS = [("#", "h1"), ("##", "h2"), ("###", "h3")]


@dataclass(frozen=True)
class ChunkConfig:
    """How documents are cut. ``signature`` goes into every file hash, so changing the
    settings re-embeds the affected files on the next sync."""

    chunk_size: int = 1000
    chunk_overlap: int = 150
    markdown_headers: bool = True
    contextual: bool = True

    @property
    def signature(self) -> str:
        return (
            f"v2:{self.chunk_size}:{self.chunk_overlap}:{int(self.markdown_headers)}:{int(self.contextual)}"
        )


@dataclass(frozen=True)
class Chunk:
    id: str
    text: str
    meta: dict[str, Any] = field(default_factory=dict)


def discover(kb_dir: Path) -> dict[str, Path]:
    """Every ingestible file under ``kb_dir`` keyed by its posix path relative to it."""
    if not kb_dir.is_dir():
        return {}
    out: dict[str, Path] = {}
    for path in sorted(kb_dir.rglob("*")):
        rel = path.relative_to(kb_dir)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if path.is_file() and path.suffix.lower() in SUFFIXES:
            out[rel.as_posix()] = path
    return out


def doc_type_of(source: str) -> str:
    parts = source.split("/")
    return parts[0] if len(parts) > 1 else "general"


def file_hash(data: bytes, config: ChunkConfig) -> str:
    return hashlib.sha256(config.signature.encode() + b"\0" + data).hexdigest()[:24]


def _html_to_text(raw: str) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(raw, "html.parser")
    for tag in soup(["script", "style", "noscript"]):
        tag.decompose()
    title = soup.title.get_text(strip=True) if soup.title else ""
    lines = []
    if title:
        lines.append(f"# {title}")
    for el in soup.find_all(["h1", "h2", "h3", "p", "li", "td", "th", "pre"]):
        text = el.get_text(" ", strip=True)
        if not text:
            continue
        if el.name in ("h1", "h2", "h3"):
            text = "#" * int(el.name[1]) + " " + text
        lines.append(text)
    return "\n\n".join(lines) if lines else soup.get_text("\n", strip=True)


def _pdf_to_text(path: Path) -> str:
    from pypdf import PdfReader

    reader = PdfReader(str(path))
    return "\n\n".join((page.extract_text() or "") for page in reader.pages)


def load_text(path: Path) -> str:
    """Plain (markdown-ish) text of one file; html and pdf are converted."""
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        return _pdf_to_text(path)
    raw = path.read_bytes().decode("utf-8", errors="replace")
    if suffix in HTML_SUFFIXES:
        return _html_to_text(raw)
    return raw


def title_of(text: str, source: str) -> str:
    match = re.search(r"^#\s+(.+)$", text, flags=re.MULTILINE)
    if match:
        return match.group(1).strip()
    stem = Path(source).stem
    return stem.replace("-", " ").replace("_", " ").strip().title() or source


def _sections(text: str, config: ChunkConfig, is_markdown: bool) -> list[tuple[str, str]]:
    """(section path, body with its heading line) pairs: markdown split at headers, other
    text as one section."""
    if not (is_markdown and config.markdown_headers):
        return [("", text)]
    from langchain_text_splitters import MarkdownHeaderTextSplitter

    splitter = MarkdownHeaderTextSplitter(HEADERS, strip_headers=False)
    out = []
    for doc in splitter.split_text(text):
        path = " > ".join(doc.metadata[k] for _, k in HEADERS if k in doc.metadata)
        out.append((path, doc.page_content))
    return out or [("", text)]


def _pieces(text: str, config: ChunkConfig, is_markdown: bool) -> list[tuple[str, str]]:
    """(section path, text) pieces of at most ``chunk_size`` characters: small neighbouring
    sections are merged (a header-only split makes many tiny chunks that say little), long
    ones are cut by the recursive splitter with overlap."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    size = config.chunk_size
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=size, chunk_overlap=min(config.chunk_overlap, size // 2)
    )
    out: list[tuple[str, str]] = []
    buf_path, buf = "", ""
    for path, body in _sections(text, config, is_markdown):
        body = body.strip()
        if not body:
            continue
        if buf and len(buf) + 2 + len(body) <= size:
            buf += "\n\n" + body
            continue
        if buf:
            out.append((buf_path, buf))
        if len(body) <= size:
            buf_path, buf = path, body
        else:
            out += [(path, p) for p in splitter.split_text(body)]
            buf_path, buf = "", ""
    if buf:
        out.append((buf_path, buf))
    return out


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def context_line(title: str, source: str, doc_type: str, section: str) -> str:
    """``title [file name] (doc_type) > section``: the file name is added when the title does
    not already say it (e.g. a generic "# HR Record" in employees/Jane Doe.md); headings that
    repeat the title are left out."""
    parts = [title]
    stem = Path(source).stem.replace("-", " ").replace("_", " ").strip()
    if _norm(stem) and _norm(stem) not in _norm(title):
        parts[0] += f" [{stem}]"
    head = f"{parts[0]} ({doc_type})"
    subs = [h for h in section.split(" > ") if h and _norm(h) != _norm(title)]
    return " > ".join([head, *subs])


def split_document(text: str, *, source: str, config: ChunkConfig, file_digest: str = "") -> list[Chunk]:
    """Cut one document into chunks with their metadata."""
    doc_type = doc_type_of(source)
    title = title_of(text, source)
    is_markdown = Path(source).suffix.lower() in {".md", ".markdown", ".html", ".htm"}
    chunks: list[Chunk] = []
    pieces = _pieces(text, config, is_markdown) or [("", "")]  # an empty file is still recorded
    for section, piece in pieces:
        piece = piece.strip()
        if not piece and len(pieces) > 1:
            continue
        if config.contextual:
            piece = f"{context_line(title, source, doc_type, section)}\n{piece}".strip()
        pos = len(chunks)
        meta = {
            "source": source,
            "doc_type": doc_type,
            "title": title,
            "section": section,
            "position": pos,
            "hash": file_digest,
        }
        chunks.append(Chunk(id=f"{file_digest[:12]}:{source}:{pos}", text=piece, meta=meta))
    for c in chunks:
        c.meta["n_chunks"] = len(chunks)
    return chunks

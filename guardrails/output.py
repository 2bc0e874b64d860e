"""Make model output safe to render as markdown in a Chatbot.

- raw HTML never renders: ``<`` outside code is escaped (``&lt;`` shows as ``<``);
- markdown images are removed (an image URL is fetched by the browser without a click, which
  is how prompt injections exfiltrate data), keeping the alt text;
- links to hosts not in ``allowed_hosts`` become plain text, and bare external URLs and
  reference-style link definitions are put in code spans so no renderer turns them into links.

Code blocks and inline code are left untouched: markdown shows them verbatim anyway.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

_FENCE = re.compile(r"(^|\n)(```|~~~)[^\n]*\n.*?(\n\2[^\n]*(?=\n|$)|$)", re.DOTALL)
_INLINE_CODE = re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)", re.DOTALL)
_IMAGE = re.compile(r"!\[([^\]]*)\]\s*(\([^)]*\)|\[[^\]]*\])")
_LINK = re.compile(r"(?<!!)\[([^\]]+)\]\(\s*<?([^)\s>]*)>?(?:\s+[\"'][^)]*[\"'])?\s*\)")
_REF_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*\S+.*$", re.MULTILINE)
_URL = re.compile(r"(?i)\b(?:https?|ftp|wss?|data|javascript):(?://)?[^\s<>`]+|(?<![\w/])www\.[^\s<>`]+")


@dataclass(frozen=True)
class OutputReport:
    text: str
    removed_images: int = 0
    unlinked: int = 0
    escaped_html: int = 0

    def notes(self) -> list[str]:
        notes = []
        if self.removed_images:
            notes.append(f"Removed {self.removed_images} image(s) from the answer.")
        if self.unlinked:
            notes.append(f"Showed {self.unlinked} external link(s) as plain text.")
        if self.escaped_html:
            notes.append("Raw HTML in the answer is shown as text.")
        return notes


def _host(url: str) -> str | None:
    try:
        return urlsplit(url).hostname
    except ValueError:  # e.g. "http://[IP]/" after PII masking
        return None


def _host_allowed(url: str, allowed_hosts: Sequence[str]) -> bool:
    if url.startswith("#"):
        return True
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    host = (parts.hostname or "").lower()
    if not parts.scheme and not parts.netloc:
        return False  # relative URLs would hit the app's own routes (/gradio_api/file=...)
    return any(host == h or host.endswith("." + h) for h in (a.lower() for a in allowed_hosts))


def _split_code(text: str) -> list[tuple[bool, str]]:
    """[(is_code, piece), ...] in order: fenced blocks and inline code spans are code."""
    pieces: list[tuple[bool, str]] = []
    pos = 0
    for m in _FENCE.finditer(text):
        pieces.extend(_split_inline(text[pos : m.start()]))
        pieces.append((True, m.group()))
        pos = m.end()
    pieces.extend(_split_inline(text[pos:]))
    return pieces


def _split_inline(text: str) -> list[tuple[bool, str]]:
    pieces: list[tuple[bool, str]] = []
    pos = 0
    for m in _INLINE_CODE.finditer(text):
        pieces.append((False, text[pos : m.start()]))
        pieces.append((True, m.group()))
        pos = m.end()
    pieces.append((False, text[pos:]))
    return [p for p in pieces if p[1]]


def sanitize_output(text: str, allowed_hosts: Sequence[str] = ()) -> OutputReport:
    """Markdown that cannot render HTML, load images, or link to hosts outside ``allowed_hosts``."""
    counts = {"img": 0, "link": 0, "html": 0}

    def image(m: re.Match[str]) -> str:
        counts["img"] += 1
        alt = m.group(1).strip()
        return f"[image removed: {alt}]" if alt else "[image removed]"

    def link(m: re.Match[str]) -> str:
        label, url = m.group(1), m.group(2)
        if _host_allowed(url, allowed_hosts):
            return m.group()
        counts["link"] += 1
        host = _host(url)
        return f"{label} (link to {host} removed)" if host else label

    def bare(m: re.Match[str]) -> str:
        url = m.group()
        if _host_allowed(url, allowed_hosts):
            return url
        counts["link"] += 1
        return f"`{url.replace('`', '')}`"

    def ref_def(m: re.Match[str]) -> str:
        counts["link"] += "`" not in m.group()  # a URL in it was already counted
        return "`" + m.group().strip().replace("`", "") + "`"

    out: list[str] = []
    for is_code, piece in _split_code(text):
        if is_code:
            out.append(piece)
            continue
        piece = _IMAGE.sub(image, piece)
        piece = _LINK.sub(link, piece)
        piece = _URL.sub(bare, piece)
        piece = _REF_DEF.sub(ref_def, piece)
        if "<" in piece:
            counts["html"] += piece.count("<")
            piece = piece.replace("<", "&lt;")
        out.append(piece)
    return OutputReport("".join(out), counts["img"], counts["link"], counts["html"])

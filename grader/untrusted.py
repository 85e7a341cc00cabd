"""The one place for text that comes from a submission: names, messages, output, excerpts.

Anything a student controls (a folder name, an exception message, printed output, a
notebook's text, a value the code returned) may hold invalid Unicode, terminal escape
sequences, spreadsheet formulas or markup. Two steps keep it harmless:

- on the way in, `text` (and `name` for file names) turns it into valid Unicode of a
  bounded length, so that every record can be written as UTF-8 JSON;
- on the way out, each format escapes it with its own function here: `terminal` (and
  `markup` for rich), `html` (Jinja's autoescape), `markdown`, `csv_cell`, `xml`,
  `annotation` (GitHub workflow commands), and `file_stem` for file names.

Every writer in grader/ goes through these; `tests/test_untrusted.py` fuzzes them.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Any

from markupsafe import escape as _html_escape

# C0 and C1 control characters other than tab and newline, DEL, and the Unicode
# characters that reorder or hide text on screen (bidirectional overrides and isolates,
# "Trojan source"), zero-width joiners aside.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
# Terminal escape sequences: CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST, clipboard
# writes and hyperlinks among them), and two-character escapes.
_ESCAPE_SEQUENCE = re.compile(
    r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])|\x9b[0-?]*[ -/]*[@-~]"
)
_SURROGATE = re.compile("[\ud800-\udfff]")
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Markdown's markup characters (an underscore only where it could start or end emphasis:
# inside a word like conv_out it is plain text), and GitHub's @mentions and #references.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*{}\[\]<>#!|~&@]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")
# Cells that spreadsheet programs read as a formula (OWASP's CSV injection rule).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_STEM = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}(?:\.[a-z0-9_-]{1,16})?")
_WINDOWS_RESERVED = re.compile(r"(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?")
TRUNCATED = " […]"


def text(value: Any, limit: int | None = None) -> str:
    """`value` as valid Unicode: lone surrogates and NULs replaced, cut to `limit` characters."""
    if not isinstance(value, str):
        try:
            value = str(value)
        except Exception:  # a hostile __str__
            value = f"<unprintable {type(value).__name__}>"
    value = _SURROGATE.sub("\ufffd", value).replace("\x00", "\ufffd")
    if limit is not None and len(value) > limit:
        value = value[: max(0, limit - len(TRUNCATED))] + TRUNCATED
    return value


def name(raw: str) -> str:
    """A file or folder name as people should see it, one-to-one with its bytes.

    Names come from the file system as bytes (decoded with surrogateescape); an
    undecodable byte is shown as \\xNN, a control or reordering character as \\xNN or
    \\uNNNN, and a backslash as \\\\, so that two different names never look the same.
    """
    out = []
    for char in raw:
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte, as surrogateescape keeps it
            out.append(f"\\x{code - 0xDC00:02x}")
        elif char == "\\":
            out.append("\\\\")
        elif code < 0x20 or _CONTROL.match(char) or _SURROGATE.match(char):
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out)


def file_stem(identifier: str) -> str:
    """A file name stem for `identifier`: collision-free, stable, portable, at most 80 characters.

    A plain id (lower-case letters, digits, '-', '_', one dot) is its own stem. Any
    other id gets a readable prefix, '~' (never in a plain id) and 16 hex digits of its
    SHA-256: two ids never share a stem, even on a case-insensitive file system.
    """
    if _PLAIN_STEM.fullmatch(identifier) and not _WINDOWS_RESERVED.fullmatch(identifier):
        return identifier
    normal = unicodedata.normalize("NFKD", identifier).encode("ascii", "ignore").decode().lower()
    prefix = re.sub(r"[^a-z0-9_-]+", "_", normal).strip("_")[:40]
    digest = hashlib.sha256(identifier.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{prefix}~{digest}" if prefix else f"~{digest}"


def terminal(value: Any) -> str:
    """Safe to print to a terminal: escape sequences removed, other controls shown as '?'."""
    cleaned = _ESCAPE_SEQUENCE.sub("", text(value))
    return _CONTROL.sub("?", cleaned)


def markup(value: Any) -> str:
    """Safe inside a rich markup string: terminal-safe, and '[' escaped."""
    from rich.markup import escape

    return escape(terminal(value))


def html(value: Any) -> str:
    """HTML-escaped (what Jinja's autoescape does to every value in the pages)."""
    return str(_html_escape(text(value)))


def markdown(value: Any) -> str:
    """Inline Markdown that shows the text as it is: one line, every markup character escaped."""
    one_line = re.sub(r"\s*[\r\n]+\s*", " ", terminal(value))
    return _MARKDOWN_SPECIAL.sub(r"\\\1", one_line)


def csv_cell(value: Any) -> str:
    """A CSV cell a spreadsheet shows as text: one line, and a leading =, +, -, @, tab or CR gets a quote."""
    cleaned = text(value)
    if cleaned.startswith(_FORMULA_START):
        cleaned = "'" + cleaned
    return re.sub(r"[\x00-\x1f\x7f-\x9f]", " ", _ESCAPE_SEQUENCE.sub("", cleaned))


def xml(value: Any) -> str:
    """Text XML 1.0 can hold (ElementTree escapes markup; this removes what XML forbids)."""
    return _XML_INVALID.sub("\ufffd", text(value))


def annotation(value: str, *, property_value: bool = False) -> str:
    """GitHub workflow-command escaping: one line that no runner reads as another command."""
    value = terminal(value).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if property_value:
        value = value.replace(":", "%3A").replace(",", "%2C")
    return value


def clean(value: Any, limit: int = 20_000) -> Any:
    """Plain data (from JSON) with every string made valid and bounded, keys included."""
    if isinstance(value, str):
        return text(value, limit)
    if isinstance(value, list | tuple):
        return [clean(item, limit) for item in value]
    if isinstance(value, dict):
        return {text(key, 200): clean(item, limit) for key, item in value.items()}
    return value

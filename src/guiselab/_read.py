"""Reading a user's input file as text: one place decides what a readable text file is.

UTF-8, with or without a byte-order mark (editors on Windows write one); no NUL bytes (a NUL
means a binary file, and would reach prompts and the store unseen); a regular file (a FIFO or
a device such as ``/dev/zero`` would block or never end).
"""

from __future__ import annotations

import codecs
import errno
import stat
from pathlib import Path

from guiselab.errors import GuiselabError, InputFileError

__all__ = ["read_text"]


def read_text(
    path: Path,
    *,
    error: type[GuiselabError] = InputFileError,
    missing: str = "no such file; check the path",
) -> str:
    """The text of ``path``; a file that cannot be read as UTF-8 text raises ``error`` naming
    the file (and the line of the first bad byte); ``missing`` is the message when it does
    not exist."""
    where = str(path)
    try:
        mode = path.stat().st_mode
        if stat.S_ISDIR(mode):
            raise error("is a directory; give the path of a file", where=where)
        if not stat.S_ISREG(mode):
            raise error("is not a regular file (a device, FIFO or socket)", where=where)
        raw = path.read_bytes()
    except FileNotFoundError:
        raise error(missing, where=where) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise error("is a symbolic link loop; point at the file itself", where=where) from None
        raise error(f"cannot read the file ({exc.strerror or exc})", where=where) from None
    body = raw.removeprefix(codecs.BOM_UTF8)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = body[: exc.start].count(b"\n") + 1
        raise error(
            f"not UTF-8 text (byte 0x{body[exc.start]:02x}); re-save the file as UTF-8",
            where=f"{where}:{line}",
        ) from None
    nul = text.find("\0")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        raise error(
            "holds a NUL byte, so it is a binary file, not text; give the text file",
            where=f"{where}:{line}",
        )
    return text

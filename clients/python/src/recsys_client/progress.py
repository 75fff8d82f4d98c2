"""Optional progress bars (tqdm) for uploads and for waiting on jobs."""

from __future__ import annotations

import importlib
from typing import IO, Any, Callable, Union

# ``progress=`` of uploads and waits: False (none), True (a tqdm bar), or a callable given each new state.
ProgressArg = Union[bool, Callable[[Any], None]]


def make_bar(**kwargs: Any) -> Any:
    """A tqdm bar; tqdm is an optional extra."""
    try:
        # Imported by name: tqdm ships no type information, and it is an optional extra.
        auto = importlib.import_module("tqdm.auto")
    except ImportError as exc:
        raise ImportError("Progress bars need tqdm: pip install 'recsys-client[progress]'") from exc
    return auto.tqdm(**kwargs)


class ProgressReader:
    """A file wrapper that reports the bytes read (httpx reads a multipart upload in chunks)."""

    def __init__(self, raw: IO[bytes], on_read: Callable[[int], None] | None) -> None:
        self.raw = raw
        self.on_read = on_read
        self.start = raw.tell() if raw.seekable() else 0

    def read(self, size: int = -1) -> bytes:
        chunk = self.raw.read(size)
        if self.on_read is not None and chunk:
            self.on_read(len(chunk))
        return chunk

    # httpx sizes the body (Content-Length, which the server checks against the plan) with these.
    def seek(self, offset: int, whence: int = 0) -> int:
        return self.raw.seek(offset, whence)

    def tell(self) -> int:
        return self.raw.tell()

    def fileno(self) -> int:
        return self.raw.fileno()

    def seekable(self) -> bool:
        return self.raw.seekable()


class JobProgress:
    """Shows a waited-for job: a tqdm bar in percent, or calls the caller's function."""

    def __init__(self, progress: ProgressArg, description: str) -> None:
        self.callback: Callable[[Any], None] | None = progress if callable(progress) else None
        self.bar = make_bar(total=100, desc=description, unit="%", leave=True) if progress is True else None

    def update(self, job: Any, fraction: float | None, postfix: str) -> None:
        if self.callback is not None:
            self.callback(job)
        if self.bar is not None:
            if fraction is not None:
                self.bar.n = round(max(0.0, min(1.0, fraction)) * 100, 1)
            self.bar.set_postfix_str(postfix, refresh=False)
            self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

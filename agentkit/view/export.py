"""`agentkit view --export`: the same pages written as static files, for sharing a run without a server."""

from __future__ import annotations

import os
from pathlib import Path

from agentkit.errors import AgentkitError
from agentkit.view.pages import Site


def export_site(site: Site, out: str | os.PathLike[str]) -> int:
    """Write every page and file of `site` under `out`; returns the number of files written."""
    out = Path(out).resolve()
    if out == site.run.root or out.is_relative_to(site.run.root):
        raise AgentkitError(f"--export {out}: choose a folder outside the run {site.run.root}")
    written = 0
    for path in site.export_paths():
        page = site.render(path)
        if page.status != 200:
            raise AgentkitError(f"export: page {path!r} failed ({page.status})")
        target = out / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(page.body)
        written += 1
    return written

"""A read-only HTTP server for the viewer, bound to 127.0.0.1 only.

Only GET and HEAD are answered (anything else gets 501 from the standard library). Every response carries
a Content-Security-Policy that allows the viewer's own scripts and nothing inline, as a second line of
defence behind the templates' escaping of model output.
"""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from agentkit.view.pages import Page, Site

HOST = "127.0.0.1"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class ViewServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, site: Site, port: int, quiet: bool = False):
        self.site = site
        self.quiet = quiet
        super().__init__((HOST, port), _Handler)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}/"


class _Handler(BaseHTTPRequestHandler):
    server: ViewServer

    def _respond(self, with_body: bool) -> None:
        split = urlsplit(self.path)
        path = unquote(split.path)
        if "\x00" in path:
            page = Page(400, "text/plain; charset=utf-8", b"bad path\n")
        else:
            try:
                page = self.server.site.render(path, parse_qs(split.query))
            except Exception as exc:  # a broken file must give an error page, never a dropped connection
                page = Page(500, "text/plain; charset=utf-8", f"viewer error: {exc}\n".encode())
        self.send_response(page.status)
        self.send_header("Content-Type", page.content_type)
        self.send_header("Content-Length", str(len(page.body)))
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        self.end_headers()
        if with_body:
            self.wfile.write(page.body)

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        self._respond(with_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._respond(with_body=False)

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        if not self.server.quiet:
            super().log_message(format, *args)


def make_server(site: Site, port: int = 8765, quiet: bool = False) -> ViewServer:
    """A server for `site` on 127.0.0.1:`port` (0 picks a free port); call `serve_forever()` on it."""
    return ViewServer(site, port, quiet)

"""The run viewer: pages rendered from a real run folder, the live server's path safety, the static
export's links, the CLI, and one end-to-end pass in headless Chromium."""

from __future__ import annotations

import http.client
import json
import re
import shutil
import socket
import struct
import threading
import zlib
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from agentkit.cli import main
from agentkit.trajectory import Episode, Turn, write_episodes
from agentkit.view import RunFolder, Site, export_site, make_server
from agentkit.view.charts import line_chart, nice_ticks

FIXTURES = Path(__file__).parent / "fixtures" / "view"
SCRIPT = "<script>alert('x')</script>"
LOSS_HISTORY = [[5, 2.5], [10, 1.75], [15, 1.25], [20, 1.0]]


def _png() -> bytes:
    """A valid 1x1 PNG, so the browser test loads a real image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixel = zlib.compress(b"\x00\xff\x00\x00")  # filter byte + one RGB pixel
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixel) + chunk(b"IEND", b"")


def _episode(task_id: str, actions: list[str], success: bool, **fields) -> Episode:
    turns = [Turn("system", "You play a text game. Reply with one command.")]
    for step, action in enumerate(actions):
        admissible = ["take apple", "go north", "look"]
        info = {"admissible_actions": admissible}
        turns.append(Turn("user", f"Observation {step} of {task_id}.", info=info))
        turns.append(Turn("assistant", f"Action: {action}", action=action, loss=True, reward=float(success)))
    return Episode(task_id, "textworld", turns, seed=0, success=success, score=float(success),
                   steps=len(actions), **fields)


def _revision() -> Episode:
    """Bad path up to the splice point, then the revision turn and the good path: only those are trained."""
    turns = [
        Turn("system", "You play a text game. Reply with one command."),
        Turn("user", "You are in a kitchen. There is an apple here. Exits: north."),
        Turn("assistant", "Action: go north", action="go north", loss=False),
        Turn("user", "You are in a hallway."),
        Turn("assistant", "Thought: I went the wrong way; I need the apple first.\nAction: go south",
             thought="I went the wrong way; I need the apple first.", action="go south", loss=True),
        Turn("user", "You are in a kitchen."),
        Turn("assistant", "Action: take apple", action="take apple", loss=True),
        Turn("user", "You take the apple."),
        Turn("assistant", "Action: go north", action="go north", loss=True, reward=1.0),
    ]
    meta = {"kind": "revision", "splice_turn": 4, "round": 1,
            "pair": {"task_id": "kitchen-1", "good": [0, 1, 3], "bad": [0, 2, 4]}}
    return Episode("kitchen-1", "textworld", turns, success=True, score=1.0, steps=4, meta=meta)


def _metrics(success: float) -> dict:
    return {
        "train": {"loss_history": LOSS_HISTORY, "train_loss": 1.5, "global_steps": 20},
        "eval": {
            "random": {"name": "random", "episodes": 4, "success_rate": 0.25, "success_low": 0.05,
                       "success_high": 0.7},
            "bc": {"name": "bc", "episodes": 4, "success_rate": success},
        },
    }


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A run folder as a recipe writes it: episodes (one with markup in its action, one failed by the
    env), a malformed line, Agent-R trees and a revision, metrics with rounds, a plot and a report;
    plus a secret file beside the run and a symlink inside it pointing at that secret."""
    run = tmp_path / "runs" / "agent_r"
    adapter = {"path": "/runs/agent_r/adapter", "digest": "abc123def4567890"}
    write_episodes(run / "eval_bc.jsonl", [
        _episode("kitchen-1", ["take apple", "go north"], True, meta={"adapter": adapter}),
        _episode("kitchen-2", ["look", SCRIPT], False, meta={"adapter": adapter}),
        _episode("kitchen-3", ["look"], False, error="env step timed out after 60 s"),
    ])
    with (run / "eval_bc.jsonl").open("a") as handle:
        handle.write('{"task_id": "kitchen-4", "env": "textworld", "turns": [], "steps": "three"}\n')
    write_episodes(run / "round_1" / "revisions.jsonl", [_revision()])
    shutil.copy(FIXTURES / "trees.jsonl", run / "trees.jsonl")
    (run / "metrics.json").write_text(json.dumps(_metrics(0.5) | {"rounds": [
        {"round": 1, "train": {"loss_history": [[1, 3.0], [2, 2.0]]}, "eval": {"bc": {"success_rate": 0.25}}},
        {"round": 2, "train": {"loss_history": [[1, 2.0], [2, 1.0]]}, "eval": {"bc": {"success_rate": 0.5}}},
    ]}))
    (run / "report.md").write_text(f"# Agent-R\n\nreport text {SCRIPT}\n")
    (run / "loss.png").write_bytes(_png())
    (tmp_path / "runs" / "secret.txt").write_text("TOP SECRET")
    (run / "link_out.txt").symlink_to(tmp_path / "runs" / "secret.txt")
    (run / ".hidden").write_text("TOP SECRET")
    baseline = tmp_path / "runs" / "bc_baseline"
    baseline.mkdir()
    (baseline / "metrics.json").write_text(json.dumps(_metrics(0.125)))
    return run


def _html(site: Site, path: str, query: dict | None = None, status: int = 200) -> str:
    page = site.render(path, query)
    assert page.status == status, page.body[:300]
    return page.body.decode()


# -- pages ------------------------------------------------------------------------------------------


def test_episode_list_has_filter_fields_and_an_error_row_for_a_malformed_line(run_dir: Path):
    html = _html(Site(RunFolder(run_dir)), "episodes.html")
    rows = re.findall(r'<tr class="episode (\w+)"', html)
    assert rows == ["success", "failure", "failure", "success"]  # eval_bc.jsonl, then round_1/revisions.jsonl
    assert 'data-adapter="adapter@abc123de"' in html
    assert 'data-error="yes"' in html and 'data-kind="revision"' in html
    invalid = re.search(r'<tr class="invalid".*?</tr>', html, re.S).group(0)
    assert "eval_bc.jsonl:4" in invalid and "field &#39;steps&#39; must be int" in invalid
    assert "<option>round_1/revisions.jsonl</option>" in html


def test_a_file_that_is_not_utf8_gives_an_error_row_and_the_other_pages_still_work(run_dir: Path):
    (run_dir / "broken.jsonl").write_bytes(b"\xff\xfe{\n")
    site = Site(RunFolder(run_dir))
    html = _html(site, "episodes.html")
    assert "invalid line: broken.jsonl:1: not UTF-8 text (byte 0xff at column 1)" in html
    assert "broken.jsonl" in _html(site, "index.html")


def test_the_readable_episodes_of_a_file_with_a_bad_byte_are_all_shown(run_dir: Path):
    good = [_episode(f"hall-{i}", ["look"], True).to_json().encode() for i in range(2)]
    (run_dir / "mixed.jsonl").write_bytes(good[0] + b"\n" + b'{"task_id": "caf\xe9"}\n' + good[1] + b"\n")
    records = RunFolder(run_dir).records("mixed.jsonl")
    assert [(r.line, r.episode.task_id if r.episode else r.error) for r in records] == [
        (1, "hall-0"), (2, "mixed.jsonl:2: not UTF-8 text (byte 0xe9 at column 17)"), (3, "hall-1")]  # fmt: skip


def test_model_output_is_escaped_everywhere(run_dir: Path):
    site = Site(RunFolder(run_dir))
    for path in ("episode/eval_bc.jsonl/2.html", "index.html", "episodes.html"):
        html = _html(site, path)
        assert "<script>alert" not in html, path
    episode = _html(site, "episode/eval_bc.jsonl/2.html")
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in episode
    assert "report text &lt;script&gt;" in _html(site, "index.html")


def test_episode_page_shows_each_turn_with_its_loss_flag_and_admissible_actions(run_dir: Path):
    html = _html(Site(RunFolder(run_dir)), "episode/eval_bc.jsonl/1.html")
    flags = re.findall(r'title="loss flag">loss=(true|false)<', html)
    assert flags == ["false", "false", "true", "false", "true"]  # system, obs, agent, obs, agent
    assert html.count('<details class="admissible">') == 2
    assert "<li><code>go north</code></li>" in html
    assert '<span class="label">action</span> <code>take apple</code>' in html
    assert 'rel="next" href="2.html"' in html and 'rel="prev"' not in html
    last = _html(Site(RunFolder(run_dir)), "episode/eval_bc.jsonl/3.html")
    assert 'rel="prev" href="2.html"' in last and 'rel="next"' not in last  # line 4 is malformed


def test_revision_episode_shows_its_pair_and_splice_point(run_dir: Path):
    html = _html(Site(RunFolder(run_dir)), "episode/round_1/revisions.jsonl/1.html")
    assert re.search(r'<li class="turn assistant loss splice" id="turn-4">', html)
    good = re.search(r'<div class="path good">.*?</div>', html, re.S).group(0)
    bad = re.search(r'<div class="path bad">.*?</div>', html, re.S).group(0)
    assert re.findall(r"<code>(.*?)</code>", good) == ["(root)", "take apple", "go north"]
    assert re.findall(r"<code>(.*?)</code>", bad) == ["(root)", "go north", "look"]
    assert "critique rule <b>value_drop</b>" in html
    assert 'href="../../../tree/trees.jsonl/1.html"' in html


def test_good_episode_shows_its_path_and_the_tree_lists_it(run_dir: Path):
    good = _episode("kitchen-1", ["take apple", "go north"], True, meta={"kind": "good", "nodes": [0, 1, 3],
                                                                          "round": 1})
    write_episodes(run_dir / "round_1" / "good.jsonl", [good])
    site = Site(RunFolder(run_dir))
    html = _html(site, "episode/round_1/good.jsonl/1.html")
    assert "<h2>Good path from the search tree</h2>" in html and '<div class="path bad">' not in html
    path = re.search(r'<div class="path good">.*?</div>', html, re.S).group(0)
    assert re.findall(r"<code>(.*?)</code>", path) == ["(root)", "take apple", "go north"]
    tree = _html(site, "tree/trees.jsonl/1.html")
    assert re.findall(r'<a href="[^"]*">(round_1/[a-z]+.jsonl:1)</a> (\w+)', tree) == [
        ("round_1/good.jsonl:1", "good"),
        ("round_1/revisions.jsonl:1", "revision"),
    ]


def test_agent_r_metrics_rounds_with_one_evaluation_each(tmp_path: Path):
    """Agent-R writes `{"rounds": [...]}` whose `eval` is the round's one agent result."""

    def result(name: str, rate: float) -> dict:
        return {"name": name, "episodes": 8, "success_rate": rate, "success_low": rate / 2,
                "success_high": 0.9}

    rounds = [
        {"round": 0, "train": {}, "adapter": "round_0/adapter", "eval": result("bc", 0.25)},
        {"round": 1, "search": {"pairs": 3, "revisions": 2, "critique_rules": {"model": 1, "value_drop": 1}},
         "train": {"train_loss": 1.25, "loss_history": [[1, 2.0], [2, 1.0]]}, "eval": result("round_1", 0.5)},
    ]
    (tmp_path / "metrics.json").write_text(json.dumps({"rounds": rounds}))
    html = _html(Site(RunFolder(tmp_path)), "index.html")
    success = re.search(r'aria-label="success per round".*?</svg>', html, re.S).group(0)
    assert len(re.search(r'points="([^"]*)"', success).group(1).split()) == 2 and ">success</text>" in success
    tables = dict(re.findall(r"<h3>(\w+ per round)</h3>\s*<table[^>]*>(.*?)</table>", html, re.S))
    assert list(tables) == ["Evaluation per round", "Search per round", "Training per round"]
    row = "<tr><th>1</th><td>8</td><td>50.0%</td><td>25.0%</td><td>90.0%</td></tr>"
    assert row in tables["Evaluation per round"]
    assert "<th>revisions</th>" in tables["Search per round"]
    assert "<td>1.25</td>" in tables["Training per round"]


def test_tree_page_nests_children_under_parents_with_visits_and_values(run_dir: Path):
    site = Site(RunFolder(run_dir))
    html = _html(site, "tree/trees.jsonl/1.html")
    order = re.findall(r'id="node-(\d+)"', html)
    assert order == ["0", "1", "3", "2", "4"]  # depth first: each child list follows its parent
    assert re.search(r'id="node-3".*?N=5 Q=1 r=1 terminal', html, re.S)
    assert 'data-good="0 1 3" data-bad="0 2 4" data-splice="1"' in html
    assert "round_1/revisions.jsonl:1" in html  # the revision spliced from this tree


def test_malformed_tree_line_is_an_error_row_naming_file_line_and_field(run_dir: Path):
    bad = json.loads((FIXTURES / "trees.jsonl").read_text().splitlines()[1])
    del bad["nodes"][1]["visits"]
    with (run_dir / "trees.jsonl").open("a") as handle:
        handle.write(json.dumps(bad) + "\n{not json\n")
    html = _html(Site(RunFolder(run_dir)), "trees.html")
    errors = re.findall(r'<td colspan="6" class="error">invalid line: (.*?)</td>', html)
    assert len(errors) == 2
    assert "trees.jsonl:3: nodes[1]: missing field &#39;visits&#39;" in errors[0]
    assert "trees.jsonl:4: not valid JSON" in errors[1]
    assert len(re.findall(r'<a href="tree/trees.jsonl/\d.html">', html)) == 2


def test_metrics_page_draws_curves_from_metrics_json_and_rounds(run_dir: Path):
    html = _html(Site(RunFolder(run_dir)), "index.html")
    polylines = re.findall(r'<polyline class="series"[^>]*points="([^"]*)"', html)
    assert len(polylines[0].split()) == len(LOSS_HISTORY)  # the training loss curve
    assert len(polylines) == 1 + 2 + 1  # loss, loss per round (2 rounds), success per round (bc)
    assert len(re.findall(r'<rect class="bar"', html)) == 2  # random and bc
    assert "<th>random</th><td>4</td><td>25.0%</td>" in html
    assert re.search(r"<tr><th>2</th><td>50.0%</td></tr>", html)  # round table
    assert '<img src="files/loss.png"' in html


def test_rounds_are_read_from_round_folders_when_metrics_json_has_none(tmp_path: Path):
    run = tmp_path / "run"
    for index, rate in ((1, 0.25), (2, 0.75), (10, 1.0)):
        metrics = {"train": {"loss_history": [[1, 2.0 / index]]}, "eval": {"agent_r": {"success_rate": rate}}}
        (run / f"round_{index}").mkdir(parents=True)
        (run / f"round_{index}" / "metrics.json").write_text(json.dumps(metrics))
    (run / "metrics.json").write_text(json.dumps(_metrics(0.5)))
    html = _html(Site(RunFolder(run)), "index.html")
    rounds = re.findall(r"<tr><th>(round_\d+)</th><td>([\d.]+%)</td></tr>", html)
    assert rounds == [("round_1", "25.0%"), ("round_2", "75.0%"), ("round_10", "100.0%")]  # natural order
    success = re.search(r'aria-label="success per round".*?</svg>', html, re.S).group(0)
    assert re.findall(r">(\d+(?:\.\d+)?)</text>", success) == ["0", "0.5", "1", "0", "5", "10"]  # y, then x
    assert ">agent_r</text>" in success  # the legend names the evaluated agent


def test_chart_ticks_are_round_and_whole_for_steps_and_rounds():
    assert nice_ticks(1, 2) == [1.0, 1.5, 2.0]
    assert nice_ticks(1, 2, integer=True) == [1.0, 2.0]
    assert nice_ticks(5, 45) == [0.0, 10.0, 20.0, 30.0, 40.0, 50.0]
    assert nice_ticks(0.25, 0.25) == [0.0, 0.5, 1.0, 1.5]  # one point still gets an axis
    assert line_chart({"loss": []}, title="t", x_label="x", y_label="y") == ""  # no data, no empty frame


@pytest.mark.parametrize(
    ("metrics", "shown"),
    [
        ("{not json", '<p class="error">metrics.json: not valid JSON'),
        ("[1, 2]", '<p class="error">metrics.json: expected an object, got list'),
        (json.dumps({"train": [], "eval": [1], "rounds": "three"}), "no trajectory files"),
        (json.dumps({"train": {"loss_history": [["a", 1], [1], 3, [2, 0.5]]}}), 'aria-label="training loss"'),
        (json.dumps({"eval": {"bc": {"success_rate": "x"}}, "rounds": [{"eval": []}, 7]}), "<td>x</td>"),
    ],
)
def test_odd_metrics_files_give_a_page_not_a_crash(tmp_path: Path, metrics: str, shown: str):
    (tmp_path / "metrics.json").write_text(metrics)
    assert shown in _html(Site(RunFolder(tmp_path)), "index.html")


def test_compare_shows_two_runs_side_by_side_from_a_sibling_name_or_a_second_run(run_dir: Path):
    site = Site(RunFolder(run_dir))
    assert 'href="index.html?compare=bc_baseline"' in _html(site, "index.html")
    for html in (
        _html(site, "index.html", {"compare": ["bc_baseline"]}),
        _html(Site(RunFolder(run_dir), RunFolder(run_dir.parent / "bc_baseline")), "index.html"),
    ):
        assert "<h1>agent_r vs bc_baseline</h1>" in html
        assert "<td>50.0%</td>" in html and "<td>12.5%</td>" in html
    missing = _html(site, "index.html", {"compare": ["../../etc"]}, status=404)
    assert "is not a run beside this one (runs: bc_baseline)" in missing


def test_run_is_reread_when_a_file_grows(run_dir: Path):
    site = Site(RunFolder(run_dir))
    assert len(re.findall(r'<tr class="episode', _html(site, "episodes.html"))) == 4
    with (run_dir / "eval_bc.jsonl").open("a") as handle:
        handle.write(_episode("kitchen-9", ["look"], True).to_json() + "\n")
    assert "kitchen-9" in _html(site, "episodes.html")


def test_single_trajectory_file_serves_that_file_only(run_dir: Path):
    site = Site(RunFolder(run_dir / "eval_bc.jsonl"))
    rows = re.findall(r'<tr class="episode (\w+)"', _html(site, "episodes.html"))
    assert rows == ["success", "failure", "failure"]
    assert site.render("files/eval_bc.jsonl").status == 200
    assert site.render("files/metrics.json").status == 404
    assert "no metrics.json" in _html(site, "index.html")


# -- server -----------------------------------------------------------------------------------------


@pytest.fixture
def server(run_dir: Path):
    server = make_server(Site(RunFolder(run_dir)), port=0, quiet=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def _get(server, path: str, method: str = "GET") -> tuple[int, bytes, http.client.HTTPResponse]:
    connection = http.client.HTTPConnection(*server.server_address, timeout=10)
    connection.putrequest(method, path, skip_accept_encoding=True)  # sent as written: no normalising
    connection.endheaders()
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, body, response


@pytest.mark.parametrize(
    "path",
    [
        "/files/../secret.txt",
        "/files/%2e%2e/secret.txt",
        "/files/%2E%2E%2Fsecret.txt",
        "/files/..%2f..%2f..%2fetc/passwd",
        "/files//etc/passwd",
        "/files/%2Fetc%2Fpasswd",
        "/files/link_out.txt",
        "/files/.hidden",
        "/files/round_1/../../secret.txt",
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/static/../pages.py",
        "/static/%2e%2e%2fpages.py",
        "/episode/..%2fsecret.txt/1.html",
        "/episode/%2e%2e/secret.txt/1.html",
        "/tree/../../secret.txt/1.html",
        "/files/eval_bc.jsonl%00.png",
    ],
)
def test_server_refuses_paths_outside_the_run(server, path: str):
    status, body, _ = _get(server, path)
    assert status in (400, 403, 404)
    assert b"TOP SECRET" not in body and b"root:" not in body


def test_files_under_checkpoints_are_neither_listed_nor_served(run_dir: Path):
    checkpoint = run_dir / "checkpoints" / "checkpoint-2"
    checkpoint.mkdir(parents=True)
    (checkpoint / "optimizer.pt").write_bytes(b"optimizer state")
    (checkpoint / "report.md").write_text("a checkpoint's own file")
    site = Site(RunFolder(run_dir))
    assert not any("checkpoints" in path for path in site.export_paths())
    for path in ("files/checkpoints/checkpoint-2/optimizer.pt", "files/checkpoints/checkpoint-2/report.md"):
        assert site.render(path).status == 404, path
    assert site.render("files/report.md").status == 200


def test_server_is_local_read_only_and_sends_a_content_security_policy(server):
    assert server.server_address[0] == "127.0.0.1"
    status, body, response = _get(server, "/files/loss.png")
    assert status == 200 and body == _png() and response.getheader("Content-Type") == "image/png"
    status, body, response = _get(server, "/episode/eval_bc.jsonl/2.html")
    assert status == 200 and b"&lt;script&gt;alert" in body
    assert "script-src 'self'" in response.getheader("Content-Security-Policy")
    status, body, _ = _get(server, "/files/report.md")
    assert status == 200 and body.startswith(b"# Agent-R")
    assert _get(server, "/", method="POST")[0] == 501
    assert _get(server, "/episodes.html", method="HEAD")[0] == 200


# -- export and CLI ---------------------------------------------------------------------------------


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("href", "src") and value:
                self.links.append(value)


def test_export_writes_every_page_with_relative_links_that_resolve(run_dir: Path, tmp_path: Path):
    out = tmp_path / "site"
    written = export_site(Site(RunFolder(run_dir)), out)
    pages = sorted(out.rglob("*.html"))
    assert written == len(list(out.rglob("*"))) - len([p for p in out.rglob("*") if p.is_dir()])
    assert {p.relative_to(out).as_posix() for p in pages} >= {
        "index.html", "episodes.html", "trees.html", "episode/eval_bc.jsonl/1.html",
        "episode/round_1/revisions.jsonl/1.html", "tree/trees.jsonl/1.html",
    }
    checked = 0
    for page in pages:
        parser = _Links()
        parser.feed(page.read_text())
        for link in parser.links:
            target = urlsplit(link)
            if target.scheme == "data":
                continue
            assert not target.scheme and not target.netloc and not target.path.startswith("/"), (page, link)
            if target.path:
                assert (page.parent / unquote(target.path)).resolve().is_file(), (page, link)
                checked += 1
    assert checked > 50
    assert (out / "files" / "loss.png").read_bytes() == _png()
    assert not (out / "files" / "link_out.txt").exists()
    assert "TOP SECRET" not in (out / "search.js").read_text()


def test_cli_view_exports_and_reports_bad_input(run_dir: Path, tmp_path: Path, capsys):
    baseline = str(run_dir.parent / "bc_baseline")
    assert main(["view", str(run_dir), baseline, "--export", str(tmp_path / "x")]) == 0
    assert "agent_r vs bc_baseline" in (tmp_path / "x" / "index.html").read_text()
    assert main(["view", str(tmp_path / "missing"), "--export", str(tmp_path / "y")]) == 2
    assert "no such run folder or trajectory file" in capsys.readouterr().err
    assert main(["view", str(run_dir), "--export", str(run_dir / "site")]) == 2
    assert "choose a folder outside the run" in capsys.readouterr().err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert main(["view", str(run_dir), "--port", str(taken.getsockname()[1])]) == 2
    assert "cannot listen on 127.0.0.1" in capsys.readouterr().err


# -- browser ----------------------------------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


@pytest.fixture
def browser():
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("the browser test needs Debian's chromium and chromium-driver at /usr/bin "
                    "(apt-get install -y chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="pip install selenium")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)  # explicit paths: Selenium Manager never downloads anything
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = webdriver.ChromeService(executable_path=str(CHROMEDRIVER))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.mark.slow
def test_browser_filters_to_failed_episodes_and_opens_one(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    browser.get(server.url + "episodes.html")
    rows = browser.find_elements(By.CSS_SELECTOR, "#episodes tbody tr")
    assert len(rows) == 5  # 4 episodes and the malformed line
    Select(browser.find_element(By.NAME, "outcome")).select_by_value("failure")
    WebDriverWait(browser, 10).until(lambda d: "2 of 5 rows" in d.find_element(By.ID, "count").text)
    visible = [row for row in rows if row.is_displayed()]
    assert [row.get_attribute("data-outcome") for row in visible] == ["failure", "failure"]
    assert "outcome=failure" in browser.current_url  # the filter is in the address, so it can be shared

    browser.find_element(By.NAME, "q").send_keys("alert")  # text search, loaded on first use
    WebDriverWait(browser, 10).until(lambda d: "1 of 5 rows" in d.find_element(By.ID, "count").text)
    link = next(row for row in rows if row.is_displayed()).find_element(By.TAG_NAME, "a")
    assert link.text == "eval_bc.jsonl:2"
    link.click()

    WebDriverWait(browser, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "li.turn"))
    turns = browser.find_elements(By.CSS_SELECTOR, "li.turn")
    roles = [t.get_attribute("class").split()[1] for t in turns]
    assert roles == ["system", "user", "assistant", "user", "assistant"]
    flags = [t.find_element(By.CSS_SELECTOR, ".badge").text for t in turns]
    assert flags == ["loss=false", "loss=false", "loss=true", "loss=false", "loss=true"]
    assert SCRIPT in turns[4].find_element(By.CSS_SELECTOR, ".action code").text  # shown as text, never run
    admissible = browser.find_elements(By.CSS_SELECTOR, "details.admissible")
    assert not any(d.get_attribute("open") for d in admissible)
    browser.find_element(By.ID, "toggle-admissible").click()
    assert all(d.get_attribute("open") for d in admissible)
    assert "go north" in admissible[0].text

    browser.get(server.url + "tree/trees.jsonl/1.html")
    browser.find_element(By.CSS_SELECTOR, "button.show-pair").click()
    classes = {n: browser.find_element(By.ID, f"node-{n}").get_attribute("class").split() for n in range(5)}
    assert [n for n in classes if "on-good" in classes[n]] == [0, 1, 3]
    assert [n for n in classes if "on-bad" in classes[n]] == [0, 2, 4]
    assert "splice-node" in classes[2]  # the bad path's step at the splice point
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []  # no script error and no Content-Security-Policy violation

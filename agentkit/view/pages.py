"""The viewer's pages: one path -> one response, shared by the live server and the static export.

Page paths are the export's file names (`index.html`, `episode/FILE/LINE.html`, ...) and every link is
relative, so the same HTML works served or opened from disk. All episode text is untrusted model output:
templates escape everything (Jinja autoescape) and only the chart SVG built here is marked safe.
"""

from __future__ import annotations

import json
import mimetypes
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2

from agentkit.methods.agent_r.tree_records import Tree
from agentkit.trajectory import Episode
from agentkit.view.charts import bar_chart, line_chart
from agentkit.view.run import EpisodeRecord, RunFolder, adapter_label, episode_kind, sibling_runs

STATIC_DIR = Path(__file__).parent / "static"
_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_EPISODE_PAGE = re.compile(r"episode/(?P<file>.+)/(?P<line>\d+)\.html")
_TREE_PAGE = re.compile(r"tree/(?P<file>.+)/(?P<line>\d+)\.html")


@dataclass
class Page:
    status: int
    content_type: str
    body: bytes


def episode_page(record: EpisodeRecord) -> str:
    return f"episode/{record.file}/{record.line}.html"


def tree_page(file: str, line: int) -> str:
    return f"tree/{file}/{line}.html"


def relative_url(current: str, target: str) -> str:
    """`target` (a page path, optionally `#anchor`) as a link relative to the page `current`."""
    path, _, anchor = target.partition("#")
    link = posixpath.relpath(path, posixpath.dirname(current) or ".")
    return quote(link) + (f"#{quote(anchor)}" if anchor else "")


def _format(key: str, value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, float) and ("rate" in key or key.startswith("success")):
        return f"{value:.1%}"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _section(metrics: dict[str, Any], key: str) -> dict[str, Any]:
    """`metrics[key]` when it is a mapping: a hand-edited or partial metrics.json shows what it can."""
    value = metrics.get(key)
    return value if isinstance(value, dict) else {}


def _scalars(fields: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(key, value) for key, value in fields.items() if not isinstance(value, dict | list)]


def _table(items: list[tuple[str, dict[str, Any]]], rates: bool = False) -> dict[str, Any]:
    """One row per item, one column per scalar field any item has (nested values are left out);
    `rates` shows every cell as a percentage."""
    columns = list(dict.fromkeys(k for _, item in items for k, v in _scalars(item) if k != "name"))
    rows = [(label, [_format("rate" if rates else c, item.get(c)) for c in columns]) for label, item in items]
    return {"columns": columns, "rows": rows}


def _loss_history(metrics: dict[str, Any]) -> list[tuple[float, float]]:
    history = _section(metrics, "train").get("loss_history")
    if not isinstance(history, list):
        return []
    return [
        (float(item[0]), float(item[1]))
        for item in history
        if isinstance(item, list | tuple)
        and len(item) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in item)
    ]


def _round_number(label: str, index: int) -> float:
    digits = re.findall(r"\d+", label)
    return float(digits[-1]) if digits else float(index)


def _round_results(metrics: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A round's evaluations by agent name; a round that evaluates one agent (`eval` is that agent's
    result itself, as Agent-R writes it) gives the single series "success"."""
    evals = _section(metrics, "eval")
    if isinstance(evals.get("success_rate"), int | float):
        return {"success": evals}
    return {name: result for name, result in evals.items() if isinstance(result, dict)}


def _round_tables(rounds: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """Per-round tables: evaluation (every field of a single agent, or the success rate of each of
    several), search and training."""
    results = [(label, _round_results(item)) for label, item in rounds]
    if all(set(by_name) <= {"success"} for _, by_name in results):
        evaluation = _table([(label, by_name.get("success", {})) for label, by_name in results])
    else:
        rates = []
        for label, found in results:
            rates.append((label, {name: result.get("success_rate") for name, result in found.items()}))
        evaluation = _table(rates, rates=True)
    tables = [
        ("Evaluation per round", evaluation),
        ("Search per round", _table([(label, _section(item, "search")) for label, item in rounds])),
        ("Training per round", _table([(label, _section(item, "train")) for label, item in rounds])),
    ]
    return [(title, table) for title, table in tables if table["columns"]]


def metrics_view(run: RunFolder) -> dict[str, Any]:
    """Everything the metrics section of a run shows: charts, the eval table and training figures."""
    metrics, error = run.metrics()
    metrics = metrics or {}
    evals = {name: item for name, item in _section(metrics, "eval").items() if isinstance(item, dict)}
    bars = [
        (name, float(item["success_rate"]), item.get("success_low"), item.get("success_high"))
        for name, item in evals.items()
        if isinstance(item.get("success_rate"), int | float)
    ]
    history = _loss_history(metrics)
    rounds = run.rounds()
    round_losses = {f"round {label}": _loss_history(item) for label, item in rounds if _loss_history(item)}
    round_success: dict[str, list[tuple[float, float]]] = {}
    for index, (label, item) in enumerate(rounds):
        for name, result in _round_results(item).items():
            if isinstance(result.get("success_rate"), int | float):
                point = (_round_number(label, index), result["success_rate"])
                round_success.setdefault(name, []).append(point)
    return {
        "name": run.name,
        "error": error,
        "present": bool(metrics),
        "train": [(key, _format(key, value)) for key, value in _scalars(_section(metrics, "train"))],
        "loss_chart": line_chart({"loss": history}, title="training loss", x_label="step", y_label="loss"),
        "history": history,
        "success_chart": bar_chart(bars, title="success rate", y_label="success"),
        "eval": _table(list(evals.items())),
        "round_loss_chart": line_chart(round_losses, title="loss per round", x_label="step", y_label="loss"),
        "round_success_chart": line_chart(
            round_success,
            title="success per round",
            x_label="round",
            y_label="success",
            y_range=(0.0, 1.0),
            legend=True,
        ),
        "round_tables": _round_tables(rounds),
    }


def _episode_row(record: EpisodeRecord) -> dict[str, Any]:
    if record.episode is None:
        return {"record": record, "invalid": True}
    episode = record.episode
    return {
        "record": record,
        "invalid": False,
        "episode": episode,
        "page": episode_page(record),
        "reward": sum(turn.reward for turn in episode.turns),
        "adapter": adapter_label(episode.meta),
        "kind": episode_kind(episode.meta),
        "outcome": "success" if episode.success else "failure",
    }


def _turn_view(index: int, turn, splice_turn: Any) -> dict[str, Any]:
    info = dict(turn.info)
    admissible = info.pop("admissible_actions", None)
    return {
        "index": index,
        "turn": turn,
        "admissible": admissible if isinstance(admissible, list) else None,
        "info": json.dumps(info, ensure_ascii=False, indent=1) if info else "",
        "tokens": len(turn.token_ids) if turn.token_ids is not None else None,
        "logprob": sum(turn.logprobs) if turn.logprobs else None,
        "splice": index == splice_turn,
    }


def _node_ids(value: Any) -> list[int]:
    """A pair's node ids as written by the recipe; anything else (a hand-edited file) is dropped."""
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, int) and not isinstance(item, bool)]


def _path_steps(tree: Tree, ids: list[int]) -> list[dict[str, Any]]:
    return [{"node": tree.nodes[i]} for i in ids if i in tree.nodes]


def _search_view(run: RunFolder, episode: Episode) -> dict[str, Any] | None:
    """Where an Agent-R episode comes from in its search tree: a revision's good/bad pair and splice
    point, or a good episode's path."""
    kind = episode_kind(episode.meta)
    if kind not in ("revision", "good"):
        return None
    meta = episode.meta
    pair = _section(meta, "pair")
    good_ids = _node_ids(pair.get("good") if kind == "revision" else meta.get("nodes"))
    bad_ids = _node_ids(pair.get("bad"))
    view: dict[str, Any] = {
        "kind": kind,
        "splice_turn": meta.get("splice_turn") if kind == "revision" else None,
        "round": meta.get("round"),
        "critique_rule": meta.get("critique_rule"),
        "good_ids": good_ids,
        "bad_ids": bad_ids,
        "tree_page": None,
        "good": [],
        "bad": [],
        "pair": None,
    }
    found = run.find_tree(str(pair.get("task_id", episode.task_id)), meta.get("round"))
    if found is not None:
        rel, line, tree = found
        view["tree_page"] = tree_page(rel, line)
        view["good"] = _path_steps(tree, good_ids)
        view["bad"] = _path_steps(tree, bad_ids)
        view["pair"] = next((p for p in tree.pairs if p.good == good_ids and p.bad == bad_ids), None)
        if view["pair"] is not None:
            view["critique_rule"] = view["pair"].critique_rule
    return view


class Site:
    """Renders the pages of one run, optionally beside a second run for comparison."""

    def __init__(self, run: RunFolder, compare: RunFolder | None = None):
        self.run = run
        self.compare = compare
        self._episode_list: tuple[tuple, Page] | None = None  # the slowest page to build, kept per version

    # -- routing -----------------------------------------------------------------------------------

    def render(self, path: str, query: dict[str, list[str]] | None = None) -> Page:
        """The response for a decoded URL path (leading `/` optional) and its query parameters."""
        query = query or {}
        path = path.lstrip("/") or "index.html"
        if path == "index.html":
            return self._index(path, query.get("compare", [None])[0])
        if path == "episodes.html":
            return self._episodes(path)
        if path == "trees.html":
            return self._html(path, "trees.jinja", trees=self._tree_rows())
        if path == "search.js":
            return Page(200, "text/javascript; charset=utf-8", self._search_index())
        if path.startswith("static/"):
            return self._static(path.removeprefix("static/"))
        if path.startswith("files/"):
            return self._raw(path.removeprefix("files/"))
        if match := _EPISODE_PAGE.fullmatch(path):
            return self._episode(path, match["file"], int(match["line"]))
        if match := _TREE_PAGE.fullmatch(path):
            return self._tree(path, match["file"], int(match["line"]))
        return self._not_found(path, f"no page {path!r}")

    def export_paths(self) -> list[str]:
        """Every page and file of the site, for the static export."""
        paths = ["index.html", "episodes.html", "trees.html", "search.js"]
        paths += [f"static/{name}" for name in sorted(p.name for p in STATIC_DIR.iterdir())]
        paths += [f"files/{rel}" for rel in self.run.images() + self.run.text_files()]
        paths += [episode_page(r) for r in self.run.all_records() if r.episode is not None]
        paths += [tree_page(rel, line) for rel, line, tree in self.run.all_trees() if isinstance(tree, Tree)]
        return paths

    # -- pages -------------------------------------------------------------------------------------

    def _html(self, path: str, template: str, status: int = 200, **context: Any) -> Page:
        html = _TEMPLATES.get_template(template).render(
            page=path, url=lambda target: relative_url(path, target), run=self.run, **context
        )
        return Page(status, "text/html; charset=utf-8", html.encode("utf-8"))

    def _not_found(self, path: str, message: str) -> Page:
        return self._html(path, "error.jinja", status=404, message=message)

    def _index(self, path: str, compare_name: str | None) -> Page:
        other = self.compare
        if compare_name is not None:
            candidates = sibling_runs(self.run)
            if compare_name not in candidates:
                names = ", ".join(candidates) or "none"
                message = f"compare={compare_name!r} is not a run beside this one (runs: {names})"
                return self._not_found(path, message)
            other = RunFolder(candidates[compare_name])
        sections = [metrics_view(self.run)] + ([metrics_view(other)] if other is not None else [])
        overlay = line_chart(
            {section["name"]: section["history"] for section in sections if section["history"]},
            title="training loss",
            x_label="step",
            y_label="loss",
            legend=True,
        )
        files = []
        for rel in self.run.trajectory_files():
            records = self.run.records(rel)
            episodes = [r.episode for r in records if r.episode is not None]
            files.append(
                {
                    "file": rel,
                    "episodes": len(episodes),
                    "successes": sum(e.success for e in episodes),
                    "errors": sum(e.error is not None for e in episodes),
                    "invalid": len(records) - len(episodes),
                }
            )
        return self._html(
            path,
            "index.jinja",
            sections=sections,
            overlay=overlay if other is not None else "",
            files=files,
            trees=len(self.run.all_trees()),
            images=self.run.images(),
            texts=[(rel, (self.run.root / rel).read_text(errors="replace")) for rel in self.run.text_files()],
            siblings=list(sibling_runs(self.run)) if self.compare is None else [],
        )

    def _episodes(self, path: str) -> Page:
        version = self.run.version(self.run.trajectory_files())
        if self._episode_list is None or self._episode_list[0] != version:
            self._episode_list = (version, self._html(path, "episodes.jinja", **self._episodes_context()))
        return self._episode_list[1]

    def _episodes_context(self) -> dict[str, Any]:
        rows = [_episode_row(record) for record in self.run.all_records()]
        valid = [row for row in rows if not row["invalid"]]

        def choices(key: str) -> list[str]:
            return sorted({str(row[key]) for row in valid if row[key]})

        return {
            "rows": rows,
            "envs": sorted({row["episode"].env for row in valid}),
            "files": self.run.trajectory_files(),
            "adapters": choices("adapter"),
            "kinds": choices("kind"),
        }

    def _episode(self, path: str, file: str, line: int) -> Page:
        if file not in self.run.trajectory_files():
            return self._not_found(path, f"no trajectory file {file!r} in this run")
        records = [r for r in self.run.records(file) if r.episode is not None]
        index = next((i for i, r in enumerate(records) if r.line == line), None)
        if index is None:
            return self._not_found(path, f"no valid episode at {file}:{line}")
        record = records[index]
        episode = record.episode
        assert episode is not None
        search = _search_view(self.run, episode)
        splice_turn = search["splice_turn"] if search else None
        return self._html(
            path,
            "episode.jinja",
            record=record,
            episode=episode,
            turns=[_turn_view(i, turn, splice_turn) for i, turn in enumerate(episode.turns)],
            adapter=adapter_label(episode.meta),
            meta=json.dumps(episode.meta, ensure_ascii=False, indent=1),
            search=search,
            previous=episode_page(records[index - 1]) if index > 0 else None,
            next=episode_page(records[index + 1]) if index + 1 < len(records) else None,
        )

    def _tree_rows(self) -> list[dict[str, Any]]:
        rows = []
        for rel, line, tree in self.run.all_trees():
            if isinstance(tree, str):
                rows.append({"file": rel, "line": line, "error": tree})
            else:
                page = tree_page(rel, line)
                rows.append({"file": rel, "line": line, "error": None, "tree": tree, "page": page})
        return rows

    def _tree(self, path: str, file: str, line: int) -> Page:
        if file not in self.run.tree_files():
            return self._not_found(path, f"no tree file {file!r} in this run")
        tree = dict(self.run.trees(file)).get(line)
        if not isinstance(tree, Tree):
            return self._not_found(path, f"no valid tree at {file}:{line}")
        spliced = [
            row
            for row in map(_episode_row, self.run.all_records())
            if not row["invalid"]
            and row["kind"] in ("revision", "good")
            and (row["episode"].meta.get("pair") or {}).get("task_id", row["episode"].task_id) == tree.task_id
            and row["episode"].meta.get("round", tree.round) == tree.round
        ]
        return self._html(path, "tree.jinja", file=file, line=line, tree=tree, spliced=spliced)

    # -- files -------------------------------------------------------------------------------------

    def _search_index(self) -> bytes:
        texts = {
            f"{rel}:{line}": text
            for rel in self.run.trajectory_files()
            for line, text in self.run.search_texts(rel).items()
        }
        return f"window.AGENTKIT_SEARCH = {json.dumps(texts, ensure_ascii=False)};\n".encode()

    def _static(self, name: str) -> Page:
        allowed = {p.name: p for p in STATIC_DIR.iterdir()}
        if name not in allowed:
            return self._not_found("static/" + name, f"no asset {name!r}")
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return Page(200, f"{kind}; charset=utf-8", allowed[name].read_bytes())

    def _raw(self, rel: str) -> Page:
        """A file of the run as it is on disk; markup types are sent as plain text so they never run."""
        file = self.run.file(rel)
        if file is None:
            return self._not_found("files/" + rel, f"no file {rel!r} in this run")
        kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind in ("application/json", "application/javascript"):
            kind = "text/plain; charset=utf-8"
        return Page(200, kind, file.read_bytes())

import json

import pytest

from agentkit.cli import main
from agentkit.trajectory import (
    Episode,
    TrajectoryError,
    TrajectoryWriter,
    Turn,
    read_episodes,
    to_dataset,
    to_messages,
    write_episodes,
)


def make_episode(task_id: str = "game-1", success: bool = True) -> Episode:
    return Episode(
        task_id=task_id,
        env="textworld",
        seed=3,
        turns=[
            Turn("system", "You play a text game."),
            Turn("user", "You are in a kitchen. Exits: north."),
            Turn("assistant", "Action: go north", action="go north", loss=True, token_ids=[5, 6, 2],
                 logprobs=[-0.1, -0.2, -0.3]),
            Turn("user", "You are in a hall.", reward=1.0),
            Turn("assistant", "Action: look", action="look", loss=False),
        ],
        success=success,
        score=1.0,
        steps=2,
    )


def test_round_trip_keeps_every_field(tmp_path):
    path = tmp_path / "episodes.jsonl"
    episodes = [make_episode("a"), make_episode("b", success=False)]
    write_episodes(path, episodes)
    loaded, skipped = read_episodes(path)
    assert skipped == 0
    assert loaded == episodes


def test_writer_flushes_each_episode_before_close(tmp_path):
    path = tmp_path / "episodes.jsonl"
    writer = TrajectoryWriter(path)
    writer.write(make_episode("a"))
    # Another reader sees the episode while the writer is still open: a killed run loses nothing.
    assert read_episodes(path)[0][0].task_id == "a"
    writer.write(make_episode("b"))
    assert [e.task_id for e in read_episodes(path)[0]] == ["a", "b"]
    writer.close()
    writer.close()
    with TrajectoryWriter(path) as again:  # appends, never truncates
        again.write(make_episode("c"))
    assert [e.task_id for e in read_episodes(path)[0]] == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda r: r.pop("task_id"), "missing field 'task_id'"),
        (lambda r: r.update(steps="two"), "field 'steps' must be int"),
        (lambda r: r.update(success=1), "field 'success' must be bool"),
        (lambda r: r["turns"][1].update(role="bot"), "turns[1]: field 'role' must be one of"),
        (lambda r: r["turns"][2].update(loss="yes"), "turns[2]: field 'loss' must be bool"),
        (lambda r: r["turns"][2].update(logprobs=[-0.1]), "turns[2]: field 'logprobs' must have one entry"),
        (lambda r: r["turns"][2].update(token_ids=[1, "x", 2]), "turns[2]: field 'token_ids' must hold only"),
        (lambda r: r.update(colour="red"), "unknown field 'colour'"),
        (lambda r: r.update(turns=[5]), "turns[0]: expected an object"),
    ],
)
def test_malformed_line_names_file_line_and_field(tmp_path, mutate, expected):
    path = tmp_path / "bad.jsonl"
    good = json.loads(make_episode().to_json())
    bad = json.loads(make_episode().to_json())
    mutate(bad)
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(TrajectoryError) as info:
        read_episodes(path)
    assert f"{path}:2: " in str(info.value)
    assert expected in str(info.value)


def test_invalid_json_and_skip_invalid_counts(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text(make_episode("a").to_json() + "\n{not json\n\n" + make_episode("b").to_json() + "\n")
    with pytest.raises(TrajectoryError, match=r"mixed.jsonl:2: not valid JSON"):
        read_episodes(path)
    episodes, skipped = read_episodes(path, skip_invalid=True)
    assert [e.task_id for e in episodes] == ["a", "b"]
    assert skipped == 1


def test_cli_validate_reports_one_line_errors(tmp_path, capsys):
    path = tmp_path / "mixed.jsonl"
    path.write_text(make_episode("a").to_json() + "\n[1, 2]\n")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "mixed.jsonl:2: expected an object" in err
    assert main(["validate", str(path), "--skip-invalid"]) == 0
    out = capsys.readouterr().out
    assert "1 valid episodes, success 100.0%, 1 invalid lines skipped" in out
    assert main(["validate", str(tmp_path / "missing.jsonl")]) == 2


def test_appending_after_a_cut_off_line_sets_it_aside_and_keeps_the_next_episode(tmp_path):
    path = tmp_path / "episodes.jsonl"
    write_episodes(path, [make_episode("a")])
    cut = make_episode("b").to_json().encode()[:57]  # what a writer killed mid-line leaves
    with path.open("ab") as handle:
        handle.write(cut)
    with pytest.warns(UserWarning, match=r"last line was cut off \(57 bytes"):
        write_episodes(path, [make_episode("c")])
    assert [e.task_id for e in read_episodes(path)[0]] == ["a", "c"]  # a plain read: no bad line left
    assert (tmp_path / "episodes.jsonl.corrupt").read_bytes() == cut + b"\n"


def test_appending_after_a_complete_record_without_newline_only_ends_its_line(tmp_path):
    path = tmp_path / "episodes.jsonl"
    path.write_text(make_episode("a").to_json())
    write_episodes(path, [make_episode("b")])
    assert [e.task_id for e in read_episodes(path)[0]] == ["a", "b"]
    assert not (tmp_path / "episodes.jsonl.corrupt").exists()


def test_a_line_that_is_not_utf8_is_one_invalid_line(tmp_path, capsys):
    path = tmp_path / "latin.jsonl"
    bad = make_episode("b").to_json().replace("kitchen", "k\u00fcche").encode("latin-1")
    path.write_bytes(make_episode("a").to_json().encode() + b"\n" + bad + b"\n" + make_episode("c").to_json().encode())
    with pytest.raises(TrajectoryError, match=r"latin.jsonl:2: not UTF-8 text \(byte 0xfc at column \d+\)"):
        read_episodes(path)
    episodes, skipped = read_episodes(path, skip_invalid=True)
    assert [e.task_id for e in episodes] == ["a", "c"] and skipped == 1
    assert main(["validate", str(path), "--skip-invalid"]) == 0
    out = capsys.readouterr().out
    assert "2 valid episodes, success 100.0%, 1 invalid lines skipped" in out and "latin.jsonl:2: not UTF-8" in out
    assert main(["validate", str(path)]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0


def test_a_missing_trajectory_file_is_a_user_error(tmp_path):
    from agentkit.errors import AgentkitError

    with pytest.raises(AgentkitError, match=r"missing.jsonl: no such file"):
        read_episodes(tmp_path / "missing.jsonl")


def test_to_messages_and_dataset_keep_loss_flags():
    episode = make_episode()
    messages = to_messages(episode)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant"]
    assert [m["loss"] for m in messages] == [False, False, True, False, False]
    assert messages[2]["token_ids"] == [5, 6, 2] and "token_ids" not in messages[4]
    dataset = to_dataset([episode, make_episode("b", success=False)])
    assert dataset.num_rows == 2
    assert dataset[0]["messages"][2]["loss"] is True
    assert dataset["success"] == [True, False]

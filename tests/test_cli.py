import subprocess
import sys

import pytest

from agentkit import __version__
from agentkit.cli import main


def test_console_script_version():
    result = subprocess.run(
        [sys.executable, "-m", "agentkit.cli", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == f"agentkit {__version__}"


def test_user_error_is_one_line_without_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "agentkit.cli", "tiny-model", "--preset", "huge", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == "agentkit: error: unknown preset 'huge'; choose one of tiny, small"


def test_missing_subcommand_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main([])
    assert exit_.value.code == 2
    assert "COMMAND" in capsys.readouterr().err

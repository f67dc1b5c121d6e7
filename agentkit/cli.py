"""The `agentkit` command. User errors print one readable line and exit 2, never a traceback."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from agentkit import __version__
from agentkit.errors import AgentkitError


def _cmd_envs(args: argparse.Namespace) -> None:
    from agentkit.envs import registered

    specs = registered()
    width = max(len(spec.name) for spec in specs)
    for spec in specs:
        extra = f"  [pip install 'agentkit[{spec.extra}]']" if spec.extra else ""
        print(f"{spec.name:<{width}}  {spec.description}{extra}")


def _cmd_tiny_model(args: argparse.Namespace) -> None:
    from agentkit.models import count_parameters, make_tiny_model

    texts = None
    if args.corpus:
        with open(args.corpus, encoding="utf-8") as handle:
            texts = handle.read().splitlines()
    out = make_tiny_model(args.out, preset=args.preset, texts=texts, seed=args.seed)
    from transformers import AutoModelForCausalLM

    n_params = count_parameters(AutoModelForCausalLM.from_pretrained(out))
    print(f"wrote {args.preset} model ({n_params / 1e6:.2f}M parameters) to {out}")


def _cmd_validate(args: argparse.Namespace) -> None:
    from agentkit.trajectory import TrajectoryError, scan_episodes

    episodes = wins = 0
    invalid: list[TrajectoryError] = []
    for item in scan_episodes(args.path):
        if isinstance(item, TrajectoryError):
            if not args.skip_invalid:
                raise item
            invalid.append(item)
        else:
            episodes += 1
            wins += item.success
    rate = f"{wins / episodes:.1%}" if episodes else "n/a"
    print(f"{args.path}: {episodes} valid episodes, success {rate}, {len(invalid)} invalid lines skipped")
    for error in invalid[:10]:
        print(f"  {error}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agentkit", description="Fine-tune LLM agents.")
    parser.add_argument("--version", action="version", version=f"agentkit {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, run: Callable[[argparse.Namespace], None], help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(run=run)
        return sub

    command("envs", _cmd_envs, "list the registered environments")

    tiny = command("tiny-model", _cmd_tiny_model, "create a tiny random-init model + tokenizer folder")
    tiny.add_argument("--preset", default="tiny", help="tiny (~1M params) or small (~20M)")
    tiny.add_argument("--out", required=True, help="folder to write (loadable by transformers, PEFT, TRL, vLLM)")
    tiny.add_argument("--seed", type=int, default=0)
    tiny.add_argument("--corpus", help="text file to train the tokenizer on (default: shipped GSM8K text)")

    validate = command("validate", _cmd_validate, "check a trajectory JSONL file line by line")
    validate.add_argument("path")
    validate.add_argument("--skip-invalid", action="store_true", help="count and report bad lines, keep going")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (AgentkitError, FileNotFoundError, IsADirectoryError) as exc:
        print(f"agentkit: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Command line: `python -m tl_core run|sweep|prepare|bench ...` (installed: `transfer-lab ...`).

    python -m tl_core run linear --n_target 5 --gap 0.3
    python -m tl_core run logistic --json
    python -m tl_core sweep linear --over n_target --values 2,5,10,50 --seeds 5 --csv
    python -m tl_core run linear --help      # every setting with its default, range and help
    python -m tl_core prepare                # data and source models made once, kept on disk

A bad value prints one line saying what was wrong and what is allowed, and exits with code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence

import pandas as pd

from tl_core import api, diskcache, tables
from tl_core.config import FieldSpec
from tl_core.demos import available_demos, get_demo
from tl_core.runtime import keep_freed_memory


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad command in one line (exit 2) instead of usage plus message."""

    def error(self, message: str) -> None:  # noqa: D102 - argparse hook
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _literally(text: str) -> str:
    """Text for argparse to print as it is: argparse reads help as a %-format (for %(default)s)."""
    return text.replace("%", "%%")


def _field_help(spec: FieldSpec) -> str:
    default = ",".join(spec.default) if spec.kind is tuple else spec.default
    return _literally(f"{spec.help}. Allowed: {spec.allowed()}. Default: {default}.")


def _add_demo_parsers(
    subparsers: argparse._SubParsersAction, command: str, helptext: str, handler: Callable
) -> None:
    parser = subparsers.add_parser(command, help=helptext, description=helptext)
    parser.set_defaults(handler=handler)
    demos = parser.add_subparsers(dest="demo", metavar="DEMO", required=True, parser_class=_Parser)
    for name in available_demos():
        Config = get_demo(name).Config
        demo_parser = demos.add_parser(
            name,
            help=f"the {name} demo",
            description=(f"{helptext} ({name} demo). Settings left out keep their defaults."),
        )
        for spec in Config.fields():
            demo_parser.add_argument(f"--{spec.name}", metavar="VALUE", help=_field_help(spec))
        if command == "run":
            out = demo_parser.add_mutually_exclusive_group()
            out.add_argument("--json", action="store_true", help="print one JSON object")
            out.add_argument("--csv", action="store_true", help="print a CSV table")
        else:
            demo_parser.add_argument(
                "--over", required=True, metavar="FIELD", help="the setting to vary, e.g. n_target or gap"
            )
            demo_parser.add_argument(
                "--values", required=True, metavar="V1,V2,...", help="comma-separated values of that setting"
            )
            demo_parser.add_argument(
                "--seeds",
                type=int,
                default=5,
                metavar="N",
                help="seeds per value, counting up from --seed (default 5)",
            )
            demo_parser.add_argument("--csv", action="store_true", help="print CSV instead of a table")


PROG = "python -m tl_core"


def build_parser(
    prog: str = PROG, extra_commands: Sequence[Callable[[argparse._SubParsersAction], None]] = ()
) -> argparse.ArgumentParser:
    """The parser of every command; each command's parser names its `handler(args)`.

    `extra_commands` add commands of another layer (`transfer-lab app`, in tl_app): a command
    whose parser sets `passes_on=True` receives the options it does not know in `args.passed_on`.
    """
    parser = _Parser(
        prog=prog,
        description=(
            "Transfer Lab: train on a source task, carry the model to a target task with several "
            f"strategies, and compare source and target accuracy. Demos: {', '.join(available_demos())}. "
            f"`{prog} run DEMO --help` lists every setting with its default, range and help."
        ),
    )
    parser.set_defaults(passes_on=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)
    _add_demo_parsers(commands, "run", "run every strategy once and print source and target metrics", _run)
    _add_demo_parsers(commands, "sweep", "run over several values of one setting times several seeds", _sweep)
    bench = commands.add_parser(
        "bench",
        help="time a run computed and read from the store, per demo, scenario and strategy, and a sweep",
    )
    bench.add_argument("demos", nargs="*", metavar="DEMO", help="demos to time (default: all)")
    bench.set_defaults(handler=_bench)
    prepare = commands.add_parser(
        "prepare",
        help="compute a lecture's data, source models and results once, kept on this machine",
        description="Generate each scenario's data and train its source model, then compute the "
        "lecture grid (each scenario's defaults, each main control moved alone across its "
        "slider's stops, the pages' and the Compare page's sweeps) into the store of results, "
        "kept in the disk cache (TL_CACHE_DIR, default ~/.cache/transfer-lab) for every later "
        "run, page and notebook on this machine: run it before a class. A second call computes "
        "only what is missing.",
    )
    prepare.add_argument("demos", nargs="*", metavar="DEMO", help="demos to prepare (default: all)")
    prepare.add_argument(
        "--demos", dest="demo_list", metavar="D1,D2", help="the same, comma-separated (e.g. linear,cnn)"
    )
    prepare.add_argument(
        "--no-grid", action="store_true", help="only the data and source models, not the lecture grid"
    )
    prepare.add_argument(
        "--seeds",
        type=int,
        default=3,
        metavar="N",
        help="seeds 0 to N-1 (default 3: a page's seed and its sweeps' seeds)",
    )
    prepare.add_argument(
        "--imagenet",
        action="store_true",
        help="also download ResNet-18's ImageNet weights (torchvision's download, into torch hub's "
        "cache) for the CNN page's ImageNet comparison: needs the network, once per machine",
    )
    prepare.set_defaults(handler=prepare_command)
    for add_command in extra_commands:
        add_command(commands)
    return parser


def _fields(args: argparse.Namespace) -> dict[str, str]:
    names = get_demo(args.demo).Config.field_names()
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def result_table(result) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "strategy": s.strategy,
                f"source {result.metric_name}": s.source_metric,
                f"target {result.metric_name}": s.target_metric,
                f"source {result.loss_name}": s.source_loss,
                f"target {result.loss_name}": s.target_loss,
                "seconds": s.wall_time,
            }
            for s in result.strategies
        ]
    )


def _run(args: argparse.Namespace) -> None:
    result = api.run(args.demo, **_fields(args))
    if args.json:
        print(
            json.dumps(
                {
                    "demo": result.demo,
                    "config": result.config,
                    "metric": result.metric_name,
                    "loss": result.loss_name,
                    "results": [
                        {
                            "strategy": s.strategy,
                            "source_metric": s.source_metric,
                            "target_metric": s.target_metric,
                            "source_loss": s.source_loss,
                            "target_loss": s.target_loss,
                            "params": s.params,
                            "wall_time": s.wall_time,
                        }
                        for s in result.strategies
                    ],
                },
                indent=2,
            )
        )
    elif args.csv:
        print(result_table(result).to_csv(index=False), end="")
    else:
        settings = ", ".join(f"{k}={v}" for k, v in result.config.items() if k != "strategies")
        print(f"{args.demo}: {settings}")
        print(result_table(result).to_string(index=False, float_format=lambda x: f"{x:.3f}"))


def _sweep(args: argparse.Namespace) -> None:
    values = [v.strip() for v in args.values.split(",") if v.strip()]
    if args.seeds < 1:
        raise ValueError(f"seeds must be an integer >= 1, got {args.seeds}")
    table = api.sweep(args.demo, over=args.over, values=values, seeds=args.seeds, **_fields(args))
    if args.csv:
        print(table.to_csv(index=False), end="")
    else:
        print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
        print()
        print(tables.summarize(table).to_string(index=False, float_format=lambda x: f"{x:.3f}"))


def prepare_demos(args: argparse.Namespace) -> list[str]:
    """The demos `prepare` names, as words and as --demos D1,D2 (none: all)."""
    return list(args.demos) + [d.strip() for d in (args.demo_list or "").split(",") if d.strip()]


def prepare_command(args: argparse.Namespace) -> None:
    keep_freed_memory()  # a batch job that trains for minutes and then ends
    started = time.perf_counter()
    api.prepare(prepare_demos(args), args.seeds, report=print, grid=not args.no_grid)
    print(f"kept in {diskcache.cache_dir()}; {time.perf_counter() - started:.0f} s in all")
    if args.imagenet:
        from tl_core import backbones

        print(f"ImageNet ResNet-18 weights: {backbones.fetch_resnet18_weights()}")


def _bench(args: argparse.Namespace) -> None:
    from tl_core.bench import main as bench_main

    keep_freed_memory()  # as the app's training workers do
    bench_main(args.demos)


def main(
    argv: Sequence[str] | None = None,
    prog: str = PROG,
    extra_commands: Sequence[Callable[[argparse._SubParsersAction], None]] = (),
) -> int:
    parser = build_parser(prog, extra_commands)
    args, passed_on = parser.parse_known_args(argv)
    if passed_on and not args.passes_on:
        parser.error(f"unrecognized arguments: {' '.join(passed_on)}")
    args.passed_on = passed_on
    try:
        return args.handler(args) or 0
    except ValueError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2

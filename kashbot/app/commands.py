"""``kashbot run``, ``kashbot config check``, ``kashbot halt``/``resume``/``reduce``/``confirm``/
``status``, ``kashbot redeem``, ``kashbot init``, ``kashbot doctor``.

Without a CONFIG argument a command reads ``./configs/paper.yaml`` when the current folder has one
(the repository, a ``kashbot init``), else the paper config bundled in the wheel. A config that does
not load is exit code 2, as ``kashbot run``'s startup refusals are.

Heavy imports (the daemon, the simulator) happen inside the command functions so that
``kashbot --help`` stays fast.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

DEFAULT_CONFIG = None  # resolved by kashbot.bundled.default_config_path() when used
CONFIG_HELP = "YAML config file (default: ./configs/paper.yaml if present, else the bundled one)"
CONFIG_ERROR = 2  # what a config that does not load exits with, in every command


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = subparsers.add_parser("run", help="run the trading daemon (default: paper trading)")
    run.add_argument("config", nargs="?", default=DEFAULT_CONFIG, help=CONFIG_HELP)
    run.add_argument("--duration", type=float, default=None, help="stop after SECONDS")
    run.add_argument("--no-status", action="store_true", help="no live status view")
    run.set_defaults(func=cmd_run)

    config = subparsers.add_parser("config", help="validate configuration files")
    config_sub = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = config_sub.add_parser("check", help="validate FILE and print the effective config")
    check.add_argument("file")
    check.add_argument("--quiet", action="store_true", help="print only errors")
    check.set_defaults(func=cmd_config_check)

    for name, help_text in (
        ("halt", "stop all new orders of a running daemon (exits still follow)"),
        ("resume", "let a halted daemon trade again"),
        ("reduce", "only let exposure-reducing orders through"),
        ("status", "print a running daemon's status (--json: the raw snapshot)"),
    ):
        p = subparsers.add_parser(name, help=help_text)
        p.add_argument("config", nargs="?", default=DEFAULT_CONFIG, help="the daemon's config")
        if name != "status":
            p.add_argument("--reason", default="operator", help="recorded with the state change")
        else:
            p.add_argument("--json", action="store_true", help="print the snapshot as JSON")
        p.set_defaults(func=cmd_control, control_action=name)
        if name == "status":  # --all: the fleet sharing the budget (kashbot.app.fleet)
            from kashbot.app.fleet_cli import add_all_flag

            add_all_flag(p)

    redeem = subparsers.add_parser(
        "redeem", help="claim every position in a resolved or cancelled market (once each)"
    )
    redeem.add_argument("config", nargs="?", default=DEFAULT_CONFIG, help=CONFIG_HELP)
    redeem.set_defaults(func=cmd_redeem)

    confirm = subparsers.add_parser(
        "confirm", help="release a high-value trade the daemon holds for confirmation"
    )
    confirm.add_argument("trade_id", help="the held trade's id (see `kashbot status`)")
    confirm.add_argument("config", nargs="?", default=DEFAULT_CONFIG, help="the daemon's config")
    confirm.set_defaults(func=cmd_control, control_action="confirm")

    from kashbot.app.doctor import register as register_doctor
    from kashbot.app.init_cmd import register as register_init

    register_init(subparsers)
    register_doctor(subparsers)


def config_path(arg: str | None) -> str:
    """The CONFIG argument, or the default one (``./configs/paper.yaml``, else the bundled)."""
    if arg is not None:
        return arg
    from kashbot.bundled import default_config_path

    return str(default_config_path())


def name_process() -> None:
    """Make a daemon findable as ``kashbot`` (``pidof kashbot``, ``kill -USR1 $(pidof -s
    kashbot)``): a console script runs as ``python``; pidof matches argv[0], so it is set whole."""
    try:
        import setproctitle
    except ImportError:  # pragma: no cover - a dependency; kept optional for odd platforms
        return
    setproctitle.setproctitle("kashbot")


def cmd_config_check(args: argparse.Namespace) -> int:
    from kashbot.config import ConfigError, effective_config_yaml, load_config

    try:
        cfg = load_config(args.file)
    except ConfigError as exc:
        print(f"config check FAILED: {len(exc.problems)} problem(s)", file=sys.stderr)
        print(str(exc), file=sys.stderr)
        return CONFIG_ERROR
    if not args.quiet:
        print(f"# {args.file}: OK (effective config, defaults filled in, secrets masked)")
        print(effective_config_yaml(cfg), end="")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from kashbot.config import load_config_or_report

    path = config_path(args.config)
    if not Path(path).exists():
        print(f"no such config file: {path}", file=sys.stderr)
        return CONFIG_ERROR
    cfg = load_config_or_report(path)
    if cfg is None:
        return CONFIG_ERROR
    if args.config is None:
        print(f"kashbot run: config {path}", file=sys.stderr)
    from kashbot.app.run import run_daemon

    name_process()
    return run_daemon(cfg, duration=args.duration, status=not args.no_status)


def cmd_redeem(args: argparse.Namespace) -> int:
    """``kashbot redeem``: one claim pass (:mod:`kashbot.app.redeem`); the daemon does it too."""
    import asyncio

    from kashbot.config import load_config_or_report

    cfg = load_config_or_report(config_path(args.config))
    if cfg is None:
        return CONFIG_ERROR
    from kashbot.app.redeem import redeem_once
    from kashbot.app.run import startup_error_text
    from kashbot.client.config import KashConfigError
    from kashbot.client.errors import KashError

    try:
        return asyncio.run(redeem_once(cfg))
    except KashConfigError as exc:
        print(f"kashbot redeem: {startup_error_text(cfg, exc)}", file=sys.stderr)
        return 2
    except KashError as exc:
        print(f"kashbot redeem: the venue answered {exc}", file=sys.stderr)
        return 1


def cmd_control(args: argparse.Namespace) -> int:
    """Talk to a running daemon's control endpoint with the token it wrote beside its store."""
    from kashbot.config import load_config_or_report

    config = config_path(args.config)
    cfg = load_config_or_report(config)
    if cfg is None:
        return CONFIG_ERROR
    token_path = cfg.control_token_path()
    try:
        token = token_path.read_text().strip()
    except OSError as exc:
        print(
            f"cannot read the control token {token_path} ({exc.strerror}): is the daemon of "
            f"{config} running? It writes the token when its control endpoint starts.",
            file=sys.stderr,
        )
        return 1
    host = "[::1]" if cfg.control.host == "::1" else cfg.control.host
    base = f"http://{host}:{cfg.control.port}"
    action = args.control_action
    headers = {"Authorization": f"Bearer {token}"}
    if action == "status":
        req = urllib.request.Request(f"{base}/status", headers=headers)
    else:
        payload = {"trade_id": args.trade_id} if action == "confirm" else {"reason": args.reason}
        req = urllib.request.Request(
            f"{base}/{action}",
            data=json.dumps(payload).encode(),
            headers={**headers, "Content-Type": "application/json"},
        )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            body = resp.read().decode()
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        with contextlib.suppress(ValueError, AttributeError):
            detail = json.loads(detail).get("error", detail)
        print(f"kashbot {action}: refused ({exc.code}): {detail}", file=sys.stderr)
        return 1
    except urllib.error.URLError as exc:
        print(
            f"cannot reach the daemon's control endpoint at {base}: {exc.reason}", file=sys.stderr
        )
        return 1
    if action != "status" or args.json:
        print(body)
        if action == "status":
            _hint_held(body)
        return 0
    from kashbot.app.status_text import status_text

    try:
        doc = json.loads(body)
    except ValueError:
        print(body)
        return 0
    print(status_text(doc))
    return 0


def _hint_held(body: str) -> None:
    with contextlib.suppress(ValueError, AttributeError):
        held = json.loads(body).get("held_trades") or []
        if held:
            print(
                f"{len(held)} trade(s) held for confirmation: {', '.join(map(str, held))}; "
                "release one with: kashbot confirm TRADE_ID [CONFIG]",
                file=sys.stderr,
            )

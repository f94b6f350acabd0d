"""The command-line convention of the tools: bad input is one line on stderr naming the tool, exit 2."""
import sys


def run_tool(name, build_parser, run, argv=None):
    args = build_parser().parse_args(argv)
    try:
        run(args)
    except (ValueError, OSError) as e:
        print(f"{name}: error: {e}", file=sys.stderr)
        return 2
    return 0

"""The command-line convention of the tools: bad input is one line on stderr naming the tool, exit 2."""
import sys


def run_tool(name, build_parser, run, argv=None):
    args = build_parser().parse_args(argv)
    try:
        run(args)
    except (ValueError, OSError) as e:
        print(f"{name}: error: {describe(e)}", file=sys.stderr)
        return 2
    return 0


def describe(e):
    """One line for an error: an OSError as `file: reason`, without Python's errno prefix."""
    if isinstance(e, OSError) and e.filename:
        return f"{e.filename}: {e.strerror}"
    return str(e)

"""The documents say what the repository holds (issue 23): every relative link and picture in README.md,
BENCHMARKS.md and docs/*.md leads to a file that exists (and an anchor to a heading there); every
`make <target>` the README shows is a Makefile target; every `tools/<x>` it names exists, its `--help`
succeeds, and the options the README's commands give it are ones its help names; each document opens
with what it is for; the README stays short and keeps the block the demo's table is written into.

Also the layering the README's layout states: online/ never imports evaluation/ (the shared metric
lives below both, in pose_formats/metrics.py), and pose_formats/ imports neither."""
import ast
import functools
import glob
import os
import re
import subprocess
import sys

import pytest

from conftest import REPO

README = os.path.join(REPO, "README.md")
DOCUMENTS = [README, os.path.join(REPO, "BENCHMARKS.md")] + sorted(glob.glob(os.path.join(REPO, "docs", "*.md")))
# The one picture made by `make demo` and committed by hand: required like any other link target.
DEMO_PICTURE = os.path.join(REPO, "docs", "demo.png")
README_MAX_LINES = 250
TABLE_START, TABLE_END = "<!-- demo-table:start -->", "<!-- demo-table:end -->"

FENCE = re.compile(r"^[ \t]*```.*?^[ \t]*```[^\n]*$", re.S | re.M)
CODE_SPAN = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"(!?)\[[^\]\n]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$", re.M)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def rel(path):
    return os.path.relpath(path, REPO)


def code_segments(text):
    """The fenced blocks and inline code spans of a markdown text."""
    blocks = FENCE.findall(text)
    rest = FENCE.sub("", text)
    return blocks + [span.strip("`") for span in CODE_SPAN.findall(rest)]


def prose(text):
    """The text outside code, where markdown links are links."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).lower()
    text = "".join(ch for ch in text if ch.isalnum() or ch in " -_")
    return text.replace(" ", "-")


def anchors(path):
    seen, out = {}, set()
    for _, title in HEADING.findall(FENCE.sub("", read(path))):
        base = slug(title)
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def links(path):
    """(is_image, target) of every relative link in a document, outside code."""
    return [(bool(bang), target) for bang, target in LINK.findall(prose(read(path)))
            if not re.match(r"[a-z][a-z0-9+.-]*:", target)]


def test_the_documents_exist():
    for name in ("data", "networks", "gpu", "online", "results", "faults", "pipeline", "build"):
        assert os.path.exists(os.path.join(REPO, "docs", f"{name}.md")), name


@pytest.mark.parametrize("path", DOCUMENTS, ids=rel)
def test_every_relative_link_and_picture_resolves(path):
    problems = []
    for is_image, target in links(path):
        file_part, _, anchor = target.partition("#")
        full = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
        if not os.path.exists(full):
            what = "picture" if is_image else "link"
            hint = " (made by `make demo`; commit it)" if full == DEMO_PICTURE else ""
            problems.append(f"{what} {target}: {rel(full)} does not exist{hint}")
        elif anchor and full.endswith(".md") and anchor not in anchors(full):
            problems.append(f"link {target}: no heading #{anchor} in {rel(full)}")
    assert problems == []


def test_the_readme_shows_the_demo_picture_and_it_is_a_png():
    assert ("docs/demo.png" in [t for image, t in links(README) if image]), "README shows no docs/demo.png"
    assert os.path.exists(DEMO_PICTURE), "docs/demo.png: make it with `make demo` and commit it"
    with open(DEMO_PICTURE, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n", "docs/demo.png is not a PNG file"


def test_every_link_check_sees_links():
    """The extraction itself: the README's documents list is found, so an empty result means no links."""
    targets = [t for _, t in links(README)]
    assert "docs/data.md" in targets and "BENCHMARKS.md" in targets


def test_the_readme_is_short_and_keeps_the_demo_table_block():
    text = read(README)
    assert len(text.splitlines()) <= README_MAX_LINES
    assert text.count(TABLE_START) == 1 and text.count(TABLE_END) == 1
    assert text.index(TABLE_START) < text.index(TABLE_END)


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(REPO, "docs", "*.md"))), ids=rel)
def test_each_document_opens_with_what_it_is_for(path):
    paragraphs = [p.strip() for p in read(path).split("\n\n") if p.strip()]
    assert paragraphs[0].startswith("# ") and "\n" not in paragraphs[0], "no title line"
    assert paragraphs[1].startswith("This document "), f"{rel(path)}: first paragraph: {paragraphs[1][:80]!r}"


def makefile_targets():
    text = read(os.path.join(REPO, "Makefile"))
    return set(re.findall(r"^([A-Za-z][\w.-]*)\s*:(?!=)", text, re.M))


def test_every_make_target_the_readme_shows_exists():
    shown = set()
    for code in code_segments(read(README)):
        shown.update(re.findall(r"(?:^|[\s;(&|])make ([a-z][\w-]*)", code, re.M))
    assert {"demo", "test"} <= shown
    assert sorted(shown - makefile_targets()) == []


def readme_tools():
    return sorted(set(re.findall(r"\btools/([\w.-]+)", read(README))))


@functools.lru_cache(maxsize=None)
def tool_help(name):
    path = os.path.join(REPO, "tools", name)
    command = [sys.executable, path, "--help"] if name.endswith(".py") else [path, "--help"]
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    return result.returncode, result.stdout + result.stderr


def test_the_readme_names_its_tools():
    assert {"train.sh", "prepare_h36m.py", "prepare_mpii.py"} <= set(readme_tools())


@pytest.mark.parametrize("name", readme_tools())
def test_every_tool_the_readme_names_exists_and_its_help_succeeds(name):
    path = os.path.join(REPO, "tools", name)
    assert os.path.isfile(path), f"tools/{name} does not exist"
    if name.endswith((".py", ".sh")):
        code, output = tool_help(name)
        assert code == 0, f"tools/{name} --help exited {code}:\n{output[-2000:]}"


def test_the_readme_commands_use_options_their_tools_accept():
    """Every `--option` in a README command line that runs a tool is named in that tool's --help."""
    problems = []
    for code in code_segments(read(README)):
        for line in code.splitlines():
            m = re.match(r"\s*(?:python\s+)?tools/([\w.-]+)(.*)", line)
            if not m:
                continue
            name, rest = m.groups()
            _, output = tool_help(name)
            for option in re.findall(r"(?<![\w-])(--[a-z][\w-]*)", rest):
                if not re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", output):
                    problems.append(f"tools/{name}: {option} is not in its --help")
    assert problems == []


def imported_modules(path):
    """Top-level package names a Python file imports (absolute imports only; relative ones stay
    inside its own package)."""
    tree = ast.parse(read(path), filename=path)
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package, forbidden", [("online", {"evaluation"}),
                                                ("pose_formats", {"online", "evaluation"})])
def test_layering(package, forbidden):
    offenders = {rel(path): sorted(imported_modules(path) & forbidden)
                 for path in glob.glob(os.path.join(REPO, package, "**", "*.py"), recursive=True)}
    assert {path: names for path, names in offenders.items() if names} == {}


def test_layering_check_sees_imports():
    """The scanner finds what online/predict.py imports, so an empty result above means no import."""
    names = imported_modules(os.path.join(REPO, "online", "predict.py"))
    assert {"pose_formats", "cuda_kernels", "numpy"} <= names

"""Opening the files the project reads, with one-line errors (ValueError) that name the file: a missing
path, a directory in place of a file, text that is not UTF-8, JSON that does not parse. What a file
must hold is each reader's own check."""
import json
import os


def check_file(path):
    """ValueError naming `path` unless it is an existing file (not a directory)."""
    if os.path.isdir(path):
        raise ValueError(f"{path}: is a directory, not a file")
    if not os.path.exists(path):
        raise ValueError(f"{path}: no such file")


def text_lines(path):
    """The lines of a UTF-8 text file, one at a time (with their line ends)."""
    check_file(path)
    with open(path, encoding="utf-8") as f:
        try:
            yield from f
        except UnicodeDecodeError as e:
            raise ValueError(f"{path}: not a text file (byte {e.start}: {e.reason})") from None


def read_bytes(path):
    """The whole file as bytes; an empty file is an error."""
    check_file(path)
    with open(path, "rb") as f:
        data = f.read()
    if not data:
        raise ValueError(f"{path}: empty file")
    return data


def read_json(path):
    try:
        return json.loads("".join(text_lines(path)))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None

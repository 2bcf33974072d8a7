"""Puts a rendered benchmark section into BENCHMARKS.md between its markers (replacing what is there), or, when
the markers are missing, before "## What limits each figure" (else at the end).

Usage: python3 scripts/bench_section.py NAME SECTION_FILE BENCHMARKS_FILE   (markers <!-- NAME:start/end -->)
"""
import sys


def put(name: str, section: str, text: str) -> str:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        return f"{head}{start}\n{section}\n{end}{tail}"
    block = f"{start}\n{section}\n{end}\n\n"
    marker = "## What limits each figure"
    return text.replace(marker, block + marker, 1) if marker in text else f"{text.rstrip()}\n\n{block}"


if __name__ == "__main__":
    name, section_file, path = sys.argv[1:4]
    section = open(section_file).read().rstrip("\n")
    text = open(path).read()
    open(path, "w").write(put(name, section, text))

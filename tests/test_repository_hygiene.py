"""The repository names nothing outside itself: no file tracked by git mentions the specification's
shared folder beside the checkout, or a rules file the repository does not hold (people read
docs/rules.md), or an absolute folder of one particular machine (a home or work directory; /tmp in
documentation), and documentation, the API's descriptions and the CLI's help cite the rules as
docs/rules.md. Fast: one pass over
``git ls-files``."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC_SUFFIXES = {".md", ".rst", ".txt", ".toml", ".cfg", ".ini", ".po", ".html"}
# Built from pieces so that this file does not match itself.
_SHARED = "shared"
_NOT_AFTER = r"(?<![\w.~%+-])"  # a path starts here: not inside a word, a relative path or a URL's path
FORBIDDEN = (
    ("the shared folder outside the repository", re.compile(r"\.\./" + _SHARED + r"\b")),
    ("the shared folder outside the repository", re.compile(r"\b" + _SHARED + r"/domain\b")),
    ("a rules file the repository does not hold (point at docs/rules.md by section)", re.compile(r"\bRULES" + r"\.md\b")),
    ("an absolute folder of one machine", re.compile(_NOT_AFTER + r"/(?:work|root)/")),
    ("an absolute folder of one machine", re.compile(_NOT_AFTER + r"/(?:home|Users)/[A-Za-z0-9._-]+/")),
    ("an absolute folder of one machine", re.compile(r"\b[A-Za-z]:\\(?:Users|Documents and Settings)\\")),
)
DOC_ONLY = (
    ("an absolute temporary folder in documentation", re.compile(_NOT_AFTER + r"/tmp/")),
    ("a section of a rules document people cannot find (write docs/rules.md section N)",
     re.compile(r"\bRULES(?:'s?)? (?:sections? \d|\d|[A-Z]\d)")),
)


def _tracked_files() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: nothing to scan")
    return [ROOT / name for name in out.decode("utf-8", "surrogateescape").split("\0") if name]


def _text(path: Path) -> str | None:
    try:
        data = path.read_bytes()
    except OSError:  # listed by git but deleted in the working tree
        return None
    if b"\0" in data[:8192]:
        return None  # binary
    return data.decode("utf-8", "replace")


# What people read of the code: the API's descriptions (controllers, schemas) and the CLI's help.
READER_FACING = ("api/app.py", "api/controllers/", "schemas/", "fund/cli/")


def _reader_facing(name: str) -> bool:
    return any(name == prefix or (prefix.endswith("/") and name.startswith(prefix)) for prefix in READER_FACING)


def findings(name: str, text: str) -> list[str]:
    """Every forbidden mention in one file's text, as ``path:line: what (excerpt)``.

    >>> findings("README.md", "see `docs/rules.md` section 4 (A3); data in ./var/")
    []
    >>> findings("notes.md", "copied to /tmp/ipfund")[0].split(": ", 1)[1]
    'an absolute temporary folder in documentation (copied to /tmp/ipfund)'
    """
    documentation = Path(name).suffix.lower() in DOC_SUFFIXES or _reader_facing(name)
    checks = FORBIDDEN + (DOC_ONLY if documentation else ())
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for what, pattern in checks:
            if pattern.search(line):
                found.append(f"{name}:{number}: {what} ({line.strip()[:120]})")
    return found


@pytest.mark.parametrize("line", [
    "read ../" + _SHARED + "/domain/x first",
    "the spec: " + _SHARED + "/domain/RULES" + ".md",
    "see RULES" + ".md section 0",
    "venv: /work" + "/main/.venv/bin/activate",
    "IPFUND_DATABASE_URL=sqlite:////work" + "/main/var/db.sqlite3",
    "cd /root" + "/project",
    "open /home" + "/alice/ipfund/README",
    "open /Users" + "/bob/code/",
    r"C:" + "\\Users\\carol\\ipfund",
])
def test_the_patterns_flag_machine_paths(line):
    assert findings("any.py", line), line


@pytest.mark.parametrize("line", ["# the policies' (RULES M1)", "see RULES section 7, V3", "notes: RULES 13"])
def test_documentation_cites_docs_rules_md(line):
    assert findings("scenario.toml", line) and findings("README.md", line)
    assert findings("fund/cli/claims.py", line) and findings("api/controllers/loans.py", line)  # help, API descriptions
    assert findings("fund/domain/status.py", line) == []  # code may cite the rules by their letters


@pytest.mark.parametrize("line", [
    "docs/rules.md section 4 (A3)",
    "a SQLite file under ./var/ created on first use",
    "GET /api/v1/loans/{id}/claims and /api/v1/work/queue",
    "https://example.org/home/page/",
    "#!/usr/bin/env bash",
    "ls /etc/postgresql | head -n 1",
    "tmp_path / 'new.sqlite3'",
    "the rules (RULES section 4, A3) and shared/statements/x.py",
    "a test refuses the file name '../../tmp/evil.pdf'",
    "tests write to /tmp/x in code",
])
def test_the_patterns_leave_legitimate_text_alone(line):
    assert findings("code.py", line) == [], line


def test_no_tracked_file_names_a_folder_outside_the_repository():
    problems = []
    for path in _tracked_files():
        text = _text(path)
        if text is not None:
            problems.extend(findings(path.relative_to(ROOT).as_posix(), text))
    assert problems == [], "\n".join(problems)

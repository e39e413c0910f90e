"""Checks of the translation catalogues (locale/<locale>/LC_MESSAGES/django.po, djangojs.po), for tests.

- `missing_messages`: what Django's `makemessages` extracts from the sources (templates, Python,
  JavaScript) that a catalogue lacks: a string someone marked but nobody translated yet.
- `incomplete_entries`: entries of a catalogue that are untranslated or fuzzy.
- `compile_catalogues`: Django's `compilemessages` (GNU msgfmt --check-format) on every catalogue.

They run the real commands on a copy in a temporary folder, so a check never writes to the checkout.
GNU gettext must be installed (`apt-get install gettext`; `make test` and .ci/run install it).
"""

import io
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po
from django.conf import settings

DOMAINS = ("django", "djangojs")
# What makemessages reads: templates and Python for "django", JavaScript for "djangojs".
SOURCE_SUFFIXES = {".py", ".html", ".txt", ".js"}
NOT_SOURCES = {".git", ".venv", "venv", "var", "node_modules", "__pycache__", "locale", "vendor", "staticfiles"}
TIMEOUT_SECONDS = 300
SETTINGS_MODULE = "catalogue_check_settings"


class CatalogueError(Exception):
    """A gettext command failed; the message has its output."""


def gettext_installed() -> bool:
    return all(shutil.which(program) for program in ("xgettext", "msgmerge", "msguniq", "msgattrib", "msgfmt"))


def catalogue_paths(locale_dir: Path) -> list[Path]:
    """Every catalogue under `locale_dir` (<locale>/LC_MESSAGES/<domain>.po)."""
    return sorted(path for domain in DOMAINS for path in locale_dir.glob(f"*/LC_MESSAGES/{domain}.po"))


def missing_messages(root: Path = settings.BASE_DIR, locale_dir: Path | None = None) -> dict[str, list[str]]:
    """{"fr/django": ["Buy coins", ...]}: each message `makemessages` extracts from the sources under `root`
    that the catalogue of that locale and domain lacks (plural messages by their singular)."""
    locale_dir = locale_dir or root / "locale"
    missing: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="catalogue-check-") as scratch:
        work = _copy_sources(root, Path(scratch) / "project", locale_dir)
        for domain in DOMAINS:
            _run(work, "makemessages", "--all", "--keep-pot", "--no-wrap", "--domain", domain)
            pot = work / "locale" / f"{domain}.pot"
            extracted = _messages(pot) if pot.exists() else {}  # no file when nothing is marked
            for po_path in locale_dir.glob(f"*/LC_MESSAGES/{domain}.po"):
                known = _messages(po_path)
                lacking = [_text(message) for key, message in extracted.items() if key not in known]
                if lacking:
                    missing[f"{po_path.parent.parent.name}/{domain}"] = lacking
    return missing


def incomplete_entries(locale_dir: Path) -> dict[str, list[str]]:
    """{"fr/django": ["untranslated: Buy coins", "fuzzy: Wallet"]}: entries a reader would see in English
    (or in a translator's guess) in each catalogue under `locale_dir`."""
    problems: dict[str, list[str]] = {}
    for po_path in catalogue_paths(locale_dir):
        found = [
            f"{'fuzzy' if message.fuzzy else 'untranslated'}: {_text(message)}"
            for message in _messages(po_path).values()
            if message.fuzzy or not _translated(message)
        ]
        if found:
            problems[f"{po_path.parent.parent.name}/{po_path.stem}"] = found
    return problems


def compile_catalogues(locale_dir: Path) -> list[Path]:
    """Run `compilemessages` on a copy of `locale_dir`; raises CatalogueError with msgfmt's complaint
    (a broken placeholder, a bad plural form, invalid syntax). Returns the .mo files it made."""
    with tempfile.TemporaryDirectory(prefix="catalogue-compile-") as scratch:
        work = Path(scratch) / "project"
        shutil.copytree(locale_dir, work / "locale")
        _write_settings(work)
        _run(work, "compilemessages")
        return [path.relative_to(work) for path in sorted((work / "locale").rglob("*.mo"))]


# --- helpers ----------------------------------------------------------------------------------------


def _copy_sources(root: Path, work: Path, locale_dir: Path) -> Path:
    def ignore(folder: str, names: list[str]) -> set[str]:
        return {
            name
            for name in names
            if name in NOT_SOURCES
            or name.startswith(".")
            or (Path(folder, name).is_file() and Path(name).suffix not in SOURCE_SUFFIXES)
        }

    shutil.copytree(root, work, ignore=ignore, symlinks=True)
    if locale_dir.is_dir():
        shutil.copytree(locale_dir, work / "locale")
    _write_settings(work)
    return work


def _write_settings(work: Path) -> None:
    """The project's settings with the copy's locale folder as the only one (makemessages writes there)."""
    (work / f"{SETTINGS_MODULE}.py").write_text(
        f"from {os.environ.get('DJANGO_SETTINGS_MODULE', 'coinsite.settings')} import *  # noqa: F403\n"
        f"LOCALE_PATHS = [{str(work / 'locale')!r}]\n"
    )


def _run(work: Path, *command: str) -> None:
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
        # The real project first (its settings import its modules), then the copy (the settings module above).
        "PYTHONPATH": os.pathsep.join([str(settings.BASE_DIR), str(work)]),
    }
    result = subprocess.run(
        [sys.executable, "-m", "django", *command],
        cwd=work,
        env=environment,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    if result.returncode != 0:
        raise CatalogueError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")


def _messages(path: Path) -> dict[tuple[str, str | None], Message]:
    """A catalogue's live messages (no header, no obsolete ones) by (singular, context)."""
    # makemessages leaves a template's plural header unfilled, which Babel cannot parse.
    text = path.read_bytes().replace(b"nplurals=INTEGER; plural=EXPRESSION;", b"nplurals=2; plural=(n != 1);")
    catalog: Catalog = read_po(io.BytesIO(text))
    return {(_singular(message), message.context): message for message in catalog if message.id}


def _singular(message: Message) -> str:
    return message.id[0] if isinstance(message.id, tuple | list) else message.id


def _text(message: Message) -> str:
    context = f" (context: {message.context})" if message.context else ""
    return f"{_singular(message)}{context}"


def _translated(message: Message) -> bool:
    strings = message.string if isinstance(message.string, tuple | list) else (message.string,)
    return bool(strings) and all(strings)

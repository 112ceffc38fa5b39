"""Languages of the console: 简体中文 (``zh``, the default) and English (``en``).

Message ids are English; ``translations/zh_CN/LC_MESSAGES/messages.po`` holds the Chinese. The .po is
compiled in memory when the app starts (no .mo file is kept in the tree). ``python -m api.console.i18n``
re-extracts the message ids from the console's Python and templates and merges them into the .po,
listing those still untranslated.

>>> translator("zh").gettext("Sign in")
'登录'
>>> translator("en").gettext("Sign in")
'Sign in'
"""

from __future__ import annotations

import io
import sys
from functools import lru_cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"
LANGUAGE_NAMES = {"zh": "简体中文", "en": "English"}
HERE = Path(__file__).resolve().parent
TRANSLATIONS_DIR = HERE / "translations"
CATALOGUE_LOCALE = {"zh": "zh_CN"}
PO_FILE = TRANSLATIONS_DIR / "zh_CN" / "LC_MESSAGES" / "messages.po"
#: modules outside the console whose words are in its catalogue (the stress plots, simulations/report.py)
PLOT_SOURCES = (HERE.parents[1] / "simulations" / "report.py",)


def N_(message: str) -> str:
    """Mark a message for extraction without translating it yet (translated where it is shown)."""
    return message


def language_or_default(value: str | None) -> str:
    return value if value in LANGUAGES else DEFAULT_LANGUAGE


@lru_cache(maxsize=None)
def translator(language: str) -> NullTranslations:
    """The gettext translations of ``language``; English is the message ids themselves."""
    locale = CATALOGUE_LOCALE.get(language)
    if locale is None:
        return NullTranslations()
    path = TRANSLATIONS_DIR / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer)


def register_plot_languages() -> None:
    """Have every stress run finished in this process draw its plots in each console language too
    (the console, the API's runner and ``ipfund stress`` all store runs the console shows)."""
    from simulations.report import register_plot_language

    for language in LANGUAGES:
        if language != "en":
            register_plot_language(language, translator(language).gettext)


def extract_catalog():
    """Every message id of the console's Python modules and templates, as a Babel catalogue."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract, extract_from_dir

    method_map = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
    options = {"**/templates/**.html": {"extensions": "", "trimmed": "true"}}
    keywords = {"_": None, "N_": None, "gettext": None, "ngettext": (1, 2), "say": (2,), "page": (3,), "refusal_page": (3,)}
    catalog = Catalog(project="ipfund-console", charset="utf-8")
    for filename, lineno, message, comments, context in extract_from_dir(
        str(HERE), method_map, options, keywords=keywords, strip_comment_tags=True,
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    for path in PLOT_SOURCES:  # the stress plots' words, drawn in the page's language
        with path.open("rb") as handle:
            for lineno, message, comments, context in extract("python", handle, keywords={"_": None}, strip_comment_tags=True):
                catalog.add(message, None, [(path.name, lineno)], auto_comments=comments, context=context)
    return catalog


def untranslated(language: str = "zh") -> list[str]:
    """Message ids of the sources that the catalogue of ``language`` does not translate."""
    locale = CATALOGUE_LOCALE[language]
    with (TRANSLATIONS_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        po = read_po(handle, locale=locale)
    missing = []
    for message in extract_catalog():
        if not message.id:
            continue
        found = po.get(message.id)
        if found is None or not found.string or (isinstance(found.string, tuple) and not all(found.string)):
            missing.append(message.id if isinstance(message.id, str) else message.id[0])
    return missing


def update_catalogue() -> list[str]:
    """Re-extract the message ids and merge them into the Chinese .po (translations kept); returns those
    still untranslated."""
    from babel.messages.pofile import write_po

    template = extract_catalog()
    with PO_FILE.open("rb") as handle:
        po = read_po(handle, locale="zh_CN")
    po.update(template, no_fuzzy_matching=True)
    with PO_FILE.open("wb") as handle:
        write_po(handle, po, sort_output=True, no_location=True, ignore_obsolete=True)
    return untranslated("zh")


if __name__ == "__main__":  # pragma: no cover
    missing = update_catalogue()
    for message in missing:
        print(f"untranslated: {message}")
    sys.exit(1 if missing else 0)

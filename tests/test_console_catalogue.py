"""The Chinese catalogue holds exactly the console's message ids, each translated: none missing (a
page would show English), none left over from text that is gone (``python -m api.console.i18n``
updates it)."""

from __future__ import annotations

from babel.messages.pofile import read_po

from api.console.i18n import PO_FILE, extract_catalog


def test_the_catalogue_holds_every_message_id_of_the_console_and_no_other():
    with PO_FILE.open("rb") as handle:
        catalogue = read_po(handle, locale="zh_CN")
    extracted = {message.id for message in extract_catalog() if message.id}
    held = {message.id for message in catalogue if message.id}
    assert sorted(map(str, extracted - held)) == []
    assert sorted(map(str, held - extracted)) == []
    assert [message.id for message in catalogue if message.id and not message.string] == []

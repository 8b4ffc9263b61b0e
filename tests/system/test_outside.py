"""The one reading of a command's path words that the gate and the candidates share."""

from __future__ import annotations

from conscious.system.outside import SEPARATORS, WORD, leads_out


def test_what_leads_out_of_the_folder() -> None:
    assert leads_out("/etc/hosts") and leads_out("~/.ssh") and leads_out("src/../../etc")
    assert not leads_out("src/app.py") and not leads_out("https://example.com/a/../b")


def test_words_and_separators_split_a_command_alike() -> None:
    command = 'cat "/etc/hosts";ls (src/a.py) x=~/y,z'
    assert WORD.findall(command) == [w for w in SEPARATORS.split(command) if w]
    assert [w for w in WORD.findall(command) if leads_out(w)] == ["/etc/hosts", "~/y"]

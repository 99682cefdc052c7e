"""The commands in the shell blocks of README.md and docs/*.md, as a shell would split them.

A small reader for the subset of sh and PowerShell the docs use: quotes, `\\` (sh) or backtick
(PowerShell) line continuations, comments, `;` `&&` `||` `|` between commands, `$(…)` command
substitutions (their inner commands are read too) and variables. Every value a reader has to fill
in or that the shell computes - `<app id>`, `$NS`, `$(azd env get-value X)`, `…` - becomes
PLACEHOLDER, so a command can be handed to a real argument parser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

PLACEHOLDER = "PLACEHOLDER"
SHELL_LANGUAGES = {"sh": "sh", "bash": "sh", "shell": "sh", "console": "sh", "powershell": "ps"}
PS_LANGUAGES = {"powershell", "pwsh", "ps1"}

_FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>[\w-]*)\s*$")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


@dataclass(frozen=True, slots=True)
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    language: str  # "sh" or "ps"
    text: str


@dataclass(frozen=True, slots=True)
class Command:
    where: str  # "docs/deploy.md:42"
    words: tuple[str, ...]
    text: str  # the logical line it came from, for messages

    @property
    def program(self) -> str:
        return self.words[0]


def shell_blocks(path: Path) -> list[Block]:
    """Fenced blocks tagged sh / bash / shell / console / powershell (indented ones too)."""
    blocks: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        if not fence or not fence["lang"]:
            index += 1
            continue
        start, language, indent = index, fence["lang"].lower(), len(fence["indent"])
        index += 1
        body: list[str] = []
        while index < len(lines) and not re.match(r"^\s*```\s*$", lines[index]):
            body.append(lines[index][indent:] if lines[index][:indent].isspace() else lines[index])
            index += 1
        index += 1
        if language in PS_LANGUAGES:
            blocks.append(Block(path, start + 1, "ps", "\n".join(body)))
        elif language in SHELL_LANGUAGES:
            text = _console_commands(body) if language == "console" else "\n".join(body)
            blocks.append(Block(path, start + 1, "sh", text))
    return blocks


def _console_commands(lines: list[str]) -> str:
    """A console block shows a prompt (`$ `) before commands; the other lines are output."""
    kept: list[str] = []
    continuing = False
    for line in lines:
        if line.startswith("$ ") or continuing:
            kept.append(line[2:] if line.startswith("$ ") and not continuing else line)
            continuing = line.rstrip().endswith("\\")
        else:
            kept.append("")  # keep line numbers
    return "\n".join(kept)


def commands(block: Block, root: Path) -> list[Command]:
    where = f"{block.path.relative_to(root)}:{block.line}"
    reader = _Reader(block.text, powershell=block.language == "ps")
    found = reader.read_all()
    result: list[Command] = []
    for words, text in found:
        words = _drop_assignments(words, powershell=block.language == "ps")
        if words:
            result.append(Command(where, tuple(words), text.strip()))
    return result


def _drop_assignments(words: list[str], *, powershell: bool) -> list[str]:
    """`NAME=value cmd …` (sh) and `$name = cmd …` (PowerShell) run `cmd`."""
    while words and _ASSIGNMENT.match(words[0]):
        words = words[1:]
    if powershell and len(words) >= 2 and words[0] == PLACEHOLDER and words[1] == "=":
        # `$env:PATH = "…"` sets a value; `$x = cmd args` runs cmd.
        words = words[2:] if len(words) > 3 else []
    return words


class _Reader:
    """A character scanner producing (words, source text) for each command, nested ones first."""

    def __init__(self, text: str, *, powershell: bool) -> None:
        self.text = text
        self.ps = powershell
        self.escape = "`" if powershell else "\\"
        self.pos = 0

    def read_all(self) -> list[tuple[list[str], str]]:
        out: list[tuple[list[str], str]] = []
        while self.pos < len(self.text):
            out.extend(self._command(stop=None))
        return out

    def _command(self, stop: str | None) -> list[tuple[list[str], str]]:
        """Read commands until end of text or `stop` (the `)` closing a substitution)."""
        found: list[tuple[list[str], str]] = []
        words: list[str] = []
        word: list[str] = []
        in_word = False
        start = self.pos

        def end_word() -> None:
            nonlocal in_word
            if in_word:
                words.append("".join(word))
                word.clear()
                in_word = False

        def end_command() -> None:
            nonlocal start
            end_word()
            if words:
                found.append((list(words), self.text[start : self.pos]))
                words.clear()
            start = self.pos

        text = self.text
        while self.pos < len(text):
            char = text[self.pos]
            if stop is not None and char == stop:
                end_command()
                self.pos += 1
                return found
            if char == self.escape and self.pos + 1 < len(text):
                nxt = text[self.pos + 1]
                self.pos += 2
                if nxt != "\n":  # a line continuation joins lines; anything else is literal
                    word.append(nxt)
                    in_word = True
                continue
            if char in " \t":
                end_word()
                self.pos += 1
            elif char == "\n":
                end_command()
                self.pos += 1
                start = self.pos
            elif char == "#" and not in_word:
                while self.pos < len(text) and text[self.pos] != "\n":
                    self.pos += 1
            elif char in ";|&":
                end_command()
                while self.pos < len(text) and text[self.pos] in ";|&":
                    self.pos += 1
                start = self.pos
            elif char == "'":
                close = text.index("'", self.pos + 1)
                word.append(text[self.pos + 1 : close])
                in_word = True
                self.pos = close + 1
            elif char == '"':
                self.pos += 1
                word.append(self._double_quoted(found))
                in_word = True
            elif char == "$":
                word.append(self._dollar(found))
                in_word = True
            elif char == "<" and re.match(r"<[^<>\n]+>", text[self.pos :]):
                close = text.index(">", self.pos)  # `<app id>`: a value the reader fills in
                word.append(PLACEHOLDER)
                in_word = True
                self.pos = close + 1
            elif char == "…" and not in_word:
                word.append(PLACEHOLDER)
                in_word = True
                self.pos += 1
            else:
                word.append(char)
                in_word = True
                self.pos += 1
        end_command()
        return found

    def _double_quoted(self, found: list[tuple[list[str], str]]) -> str:
        text = self.text
        parts: list[str] = []
        while self.pos < len(text):
            char = text[self.pos]
            if char == '"':
                self.pos += 1
                return "".join(parts)
            if char == self.escape and self.pos + 1 < len(text):
                nxt = text[self.pos + 1]
                # sh keeps the backslash unless it escapes $ ` " \ or a newline
                if not self.ps and nxt not in '$`"\\\n':
                    parts.append(char)
                parts.append(nxt)
                self.pos += 2
            elif char == "$":
                parts.append(self._dollar(found))
            else:
                parts.append(char)
                self.pos += 1
        raise ValueError("unterminated double quote")

    def _dollar(self, found: list[tuple[list[str], str]]) -> str:
        """`$(cmd)` (its commands are read), `${…}`, `$NAME`, `$env:NAME`: one placeholder."""
        text = self.text
        nxt = text[self.pos + 1] if self.pos + 1 < len(text) else ""
        if nxt == "(":
            self.pos += 2
            found.extend(self._command(stop=")"))
            return PLACEHOLDER
        if nxt == "{":
            self.pos = text.index("}", self.pos) + 1
            return PLACEHOLDER
        match = re.compile(r"\$(env:)?[A-Za-z_][A-Za-z0-9_]*").match(text, self.pos)
        if match:
            self.pos = match.end()
            return PLACEHOLDER
        self.pos += 1
        return "$"

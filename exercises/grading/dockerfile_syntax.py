"""Split a Dockerfile into instructions exactly as the engine's builder does.

The offline check (`ADD <url>`, `FROM <registry>`) is only as good as the agreement between
this lexer and the engine's, so this is a transcription of the parser the engine runs, not
an approximation: Docker 20.10's classic builder and BuildKit both use moby/buildkit's
`frontend/dockerfile/parser` (read at buildkit commit 0a7f6cc, the version before heredocs:
`parser.go` `Parse`, `processLine`, `trimContinuationCharacter`, `possibleParserDirective`;
`split_command.go` `splitCommand`, `extractBuilderFlags`; `line_parsers.go` `parseJSON`,
`parseMaybeJSONToList`, `parseStringsWhitespaceDelimited`, `parseSubCommand`). Where they
matter:

- lines end at `\\n` only; one trailing `\\r` is dropped (`bufio.ScanLines`); a UTF-8 BOM
  is dropped from the first line;
- parser directives (`# escape=`` ` ``, `# syntax=...`, any case) are recognised only until
  the first line that is not one (an empty line or a plain comment ends them too); a
  repeated directive or an escape other than `\\` and `` ` `` is an error;
- a line continues when the escape character is followed only by spaces and tabs up to
  the end of the line (`\\` then a form feed or `\\r` does not continue); the continuation
  is glued on without a space; comment lines and blank lines inside a continuation are
  skipped; the first line of an instruction is left-trimmed, the following ones are not;
- `<<EOF` means nothing special (no heredocs before the Dockerfile 1.4 frontend, which the
  engine never loads here), so the lines after it are instructions of their own;
- the instruction word is split off at `[\\t\\v\\f\\r ]+` and compared case-insensitively;
  `--flags` are read with Go's quoting rules; ADD/COPY arguments are a JSON array of strings
  or else split at `[\\t\\v\\f\\r ]+` (quotes are only removed later, when the words are
  expanded); ONBUILD holds a whole instruction.

"White space" below is Go's `unicode.IsSpace`, which differs from Python's `str.isspace`
(Python also strips `\\x1c`-`\\x1f`), so Python's `strip()` is never used on Dockerfile text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from .types import GradingError

# Go's unicode.IsSpace (Latin-1 part, then the White_Space property above it).
GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"  # fmt: skip
_GO_SPACE_BYTES = frozenset(b"\t\n\v\f\r \x85\xa0")  # unicode.IsSpace(rune(byte))
_WHITESPACE = re.compile(r"[\t\v\f\r ]+")  # reWhitespace
_RE2_SPACE = r"[\t\n\f\r ]"  # RE2's \s
_DIRECTIVE = re.compile(
    rf"#{_RE2_SPACE}*([a-zA-Z][a-zA-Z0-9]*){_RE2_SPACE}*={_RE2_SPACE}*(.+?){_RE2_SPACE}*\Z"
)
_VALID_DIRECTIVES = frozenset({"escape", "syntax"})
MAX_LINE_BYTES = 64 * 1024 - 1  # bufio.MaxScanTokenSize

UNKNOWN_INSTRUCTION = "Dockerfile line {line}: unknown instruction {word}."
UNKNOWN_AFTER_HEREDOC = (
    "Dockerfile line {line}: unknown instruction {word} (the sandbox's builder has no "
    "heredocs: the lines after <<{delimiter} are read as instructions)."
)
BAD_DIRECTIVE = "Dockerfile line {line}: only one {name} parser directive can be used."
BAD_ESCAPE = "Dockerfile line {line}: the escape directive must be \\ or ` (not {value})."
LINE_TOO_LONG = "Dockerfile line {line} is longer than the builder's limit of 65535 bytes."
JSON_NOT_STRINGS = "Dockerfile line {line}: a JSON array of arguments must hold only strings."

INSTRUCTIONS = frozenset(
    [
        "FROM",
        "RUN",
        "CMD",
        "LABEL",
        "MAINTAINER",
        "EXPOSE",
        "ENV",
        "ADD",
        "COPY",
        "ENTRYPOINT",
        "VOLUME",
        "USER",
        "WORKDIR",
        "ARG",
        "ONBUILD",
        "STOPSIGNAL",
        "HEALTHCHECK",
        "SHELL",
    ]
)
_JSON_LISTS = frozenset({"ADD", "COPY", "VOLUME", "RUN", "CMD", "ENTRYPOINT", "SHELL"})
_HEREDOC_HINT = re.compile(r"<<-?[\"']?([A-Za-z0-9_.-]+)")


@dataclass
class Instruction:
    keyword: str  # upper case
    args: str  # what follows the keyword and its --flags, continuations joined
    line: int  # where the instruction starts (1-based)
    flags: dict[str, str] = field(default_factory=dict)  # --name=value, name lower-cased
    raw_flags: list[str] = field(default_factory=list)  # the flag words as the builder read them
    trigger: Instruction | None = None  # ONBUILD's instruction
    end_line: int = 0


@dataclass
class Lexed:
    instructions: list[Instruction]
    escape: str
    directives: dict[str, tuple[str, int]]  # name -> (value, line)


def go_lstrip(text: str) -> str:
    return text.lstrip(GO_SPACE)


def go_trim(text: str) -> str:
    return text.strip(GO_SPACE)


def dockerfile_lex(text: str, *, escape: str | None = None, loose: bool = False) -> Lexed:
    """Instructions as the engine's parser reads them; GradingError where it would fail.

    `escape` forces an escape character (ignoring the directive) and `loose` continues a
    line after the escape character followed by any white space: both only exist so that
    the offline check can also read the file the ways a buggier parser would.
    """
    state = _Directives(forced=escape)
    lines = _scan(text)
    result: list[Instruction] = []
    heredoc: tuple[str, int] | None = None
    i = 0
    while i < len(lines):
        raw = lines[i]
        token = go_lstrip(raw)
        state.see(token, i + 1)
        i += 1
        start = i
        line, end = _continuation(_trim_comment(token), state.escape, loose)
        if end and line == "":
            continue
        while not end and i < len(lines):
            raw = lines[i]
            state.see(raw, i + 1)
            i += 1
            if go_lstrip(raw).startswith("#"):
                continue  # a comment inside a continuation
            if go_lstrip(raw) == "":
                continue  # an empty continuation line
            more, end = _continuation(_trim_comment(raw), state.escape, loose)
            line += more
        instruction = _instruction(line, start, heredoc)
        instruction.end_line = i
        result.append(instruction)
        hint = _HEREDOC_HINT.search(line)
        heredoc = (hint.group(1), start) if hint else heredoc
    return Lexed(result, state.escape, state.values)


class _Directives:
    """`possibleParserDirective`: directives until the first line that is not one."""

    def __init__(self, forced: str | None) -> None:
        self.escape = forced or "\\"
        self.forced = forced is not None
        self.done = False
        self.values: dict[str, tuple[str, int]] = {}

    def see(self, line: str, number: int) -> None:
        if self.done:
            return
        match = _DIRECTIVE.match(line)
        name = match.group(1).lower() if match else ""
        if name not in _VALID_DIRECTIVES:
            self.done = True
            return
        assert match is not None
        if name in self.values:
            raise GradingError(BAD_DIRECTIVE.format(line=number, name=name))
        self.values[name] = (match.group(2), number)
        if name == "escape":
            if match.group(2) not in ("\\", "`"):
                raise GradingError(BAD_ESCAPE.format(line=number, value=match.group(2)[:20]))
            if not self.forced:
                self.escape = match.group(2)


def _scan(text: str) -> list[str]:
    """bufio.Scanner with ScanLines: split at \\n, drop one \\r at the end of each line."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if lines:
        lines[0] = lines[0].removeprefix("\ufeff")
    for number, line in enumerate(lines, 1):
        if (
            len(line) * 4 > MAX_LINE_BYTES
            and len(line.encode("utf-8", "surrogatepass")) > MAX_LINE_BYTES
        ):
            raise GradingError(LINE_TOO_LONG.format(line=number))
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def reading_differs(text: str, *, escape: str, loose: bool, real_escape: str) -> bool:
    """Whether reading `text` with `escape` (and `loose`) would join any line differently."""
    for line in _scan(text):
        if _continuation(line, escape, loose)[1] != _continuation(line, real_escape, False)[1]:
            return True
    return False


def _trim_comment(line: str) -> str:
    return "" if line.startswith("#") else line


def _continuation(line: str, escape: str, loose: bool) -> tuple[str, bool]:
    """(line without its continuation, whether the instruction ends here)."""
    body = line.rstrip(GO_SPACE if loose else " \t")
    if body.endswith(escape):
        return body[:-1], False
    return line, True


def _instruction(line: str, start: int, heredoc: tuple[str, int] | None) -> Instruction:
    """`splitCommand` + the ONBUILD sub-command."""
    parts = _WHITESPACE.split(go_trim(line), maxsplit=1)
    word = parts[0]
    keyword = word.upper()
    if keyword not in INSTRUCTIONS:
        if heredoc:
            message = UNKNOWN_AFTER_HEREDOC.format(line=start, word=word[:40], delimiter=heredoc[0])
        else:
            message = UNKNOWN_INSTRUCTION.format(line=start, word=word[:40])
        raise GradingError(message)
    args, raw_flags = extract_flags(parts[1]) if len(parts) == 2 else ("", [])
    flags = {}
    for flag in raw_flags:
        name, _, value = flag[2:].partition("=")
        flags[name.lower()] = value
    instruction = Instruction(keyword, go_trim(args), start, flags, raw_flags)
    if keyword in _JSON_LISTS:
        split_list(instruction.args, start)  # a JSON array of non-strings is an error
    if keyword == "ONBUILD" and instruction.args:
        instruction.trigger = _instruction(instruction.args, start, heredoc)
    return instruction


def extract_flags(line: str) -> tuple[str, list[str]]:
    """`extractBuilderFlags`: the leading `--flag[=value]` words, read byte by byte (as Go
    does) with its quotes and backslashes; returns (the rest of the line, the flags)."""
    data = line.encode("utf-8", "surrogatepass")
    words: list[str] = []
    word = bytearray()
    phase, quote, blank_ok = "spaces", 0, False
    pos = 0
    while pos <= len(data):
        ch = data[pos] if pos < len(data) else None
        if phase == "spaces":
            if ch is None:
                break
            if ch in _GO_SPACE_BYTES:
                pos += 1
                continue
            if ch != 0x2D or pos + 1 == len(data) or data[pos + 1] != 0x2D:
                return data[pos:].decode("utf-8", "replace"), words
            phase = "word"
        if ch is None:
            if bytes(word) != b"--" and (blank_ok or word):
                words.append(word.decode("utf-8", "replace"))
            break
        if phase == "word":
            if ch in _GO_SPACE_BYTES:
                phase = "spaces"
                if bytes(word) == b"--":
                    return data[pos:].decode("utf-8", "replace"), words
                if blank_ok or word:
                    words.append(word.decode("utf-8", "replace"))
                word, blank_ok = bytearray(), False
            elif ch in (0x22, 0x27):
                quote, blank_ok, phase = ch, True, "quote"
            elif ch == 0x5C:
                if pos + 1 < len(data):
                    pos += 1
                    word.append(data[pos])
            else:
                word.append(ch)
        elif ch == quote:
            phase = "word"
        elif ch == 0x5C:
            if pos + 1 == len(data):
                phase = "word"
            else:
                pos += 1
                word.append(data[pos])
        else:
            word.append(ch)
        pos += 1
    return "", words


def split_list(args: str, line: int = 0) -> tuple[list[str], bool]:
    """`parseMaybeJSONToList` (ADD, COPY, VOLUME): (words, whether it was JSON)."""
    rest = go_lstrip(args)
    if rest.startswith("["):
        try:
            value = json.loads(rest)
        except (json.JSONDecodeError, RecursionError):
            value = None
        if isinstance(value, list):
            if not all(isinstance(v, str) for v in value):
                raise GradingError(JSON_NOT_STRINGS.format(line=line))
            return list(value), True
    return [w for w in _WHITESPACE.split(args) if w], False


def whitespace_words(args: str) -> list[str]:
    """`parseStringsWhitespaceDelimited` (FROM, EXPOSE)."""
    return [w for w in _WHITESPACE.split(args) if w]


def unquote(word: str, escape: str) -> str:
    """A word with its quotes and escape characters removed, as the builder's word expansion
    (`shell.Lex.ProcessWord`) leaves it before substituting variables."""
    out: list[str] = []
    quote = ""
    i = 0
    while i < len(word):
        ch = word[i]
        if quote != "'" and ch == escape and i + 1 < len(word):
            out.append(word[i + 1])
            i += 2
            continue
        if ch in "'\"" and quote in ("", ch):
            quote = "" if quote == ch else ch
        elif ch != escape:
            out.append(ch)
        i += 1
    return "".join(out)

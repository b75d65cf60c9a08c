"""The Dockerfile lexer agrees with the engine's parser, and every remote ADD is found.

`ENGINE_TABLE` is a differential table: each Dockerfile was built with the engine's classic
builder (Docker 20.10.24, `DOCKER_BUILDKIT=0`, FROM scratch so that only ENV and LABEL
steps run) and the instructions below are what it executed, read back from the image's
Env and Labels (or the error it gave). A harmless LABEL stands where an attack would put
`ADD http://...`: the question each row answers is which lines the engine takes as
instructions of their own.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exercises.grading.dockerfile import (
    dockerfile_parse,
    external_sources,
    final_image,
    resolve_base,
)
from exercises.grading.dockerfile_syntax import dockerfile_lex, extract_flags, split_list
from exercises.grading.types import GradingError

F = ("FROM", "scratch")

ENGINE_TABLE = [
    # (case, Dockerfile, instructions the engine ran, or None when it refused the file)
    ("form-feed-after-backslash", "FROM scratch\nENV A 1 \\\f\nLABEL x=ff\n",
     [F, ("ENV", "A 1 \\"), ("LABEL", "x=ff")]),
    ("cr-after-backslash", "FROM scratch\nENV A 1 \\\r\r\nLABEL x=cr\n",
     [F, ("ENV", "A 1 \\"), ("LABEL", "x=cr")]),
    ("crlf-continuation", "FROM scratch\r\nENV A 1 \\\r\nLABEL x=crlf\r\n",
     [F, ("ENV", "A 1 LABEL x=crlf")]),
    ("backtick-escape-backslash-is-text", "# escape=`\nFROM scratch\nENV A 1 \\\nLABEL x=bt\n",
     [F, ("ENV", "A 1 \\"), ("LABEL", "x=bt")]),
    ("backtick-escape-continues", "# escape=`\nFROM scratch\nENV A 1 `\nLABEL x=bt\n",
     [F, ("ENV", "A 1 LABEL x=bt")]),
    ("syntax-then-escape", "# syntax=docker/dockerfile:1\n# escape=`\nFROM scratch\nENV A 1 `\nLABEL x=y\n",
     [F, ("ENV", "A 1 LABEL x=y")]),
    ("indented-directive", "  # escape=`\nFROM scratch\nENV A 1 `\nLABEL x=y\n",
     [F, ("ENV", "A 1 LABEL x=y")]),
    ("upper-case-directive", "# ESCAPE=`\nFROM scratch\nENV A 1 `\nLABEL x=y\n",
     [F, ("ENV", "A 1 LABEL x=y")]),
    ("directive-with-trailing-space", "# escape=` \nFROM scratch\nENV A 1 `\nLABEL x=y\n",
     [F, ("ENV", "A 1 LABEL x=y")]),
    ("directive-after-blank-line", "\n# escape=`\nFROM scratch\nENV A 1 `\nLABEL x=y\n",
     [F, ("ENV", "A 1 `"), ("LABEL", "x=y")]),
    ("directive-after-comment", "# hello\n# escape=`\nFROM scratch\nENV A 1 `\nLABEL x=y\n",
     [F, ("ENV", "A 1 `"), ("LABEL", "x=y")]),
    ("heredoc-is-not-special", "FROM scratch\nENV A <<EOF\nLABEL x=here\n",
     [F, ("ENV", "A <<EOF"), ("LABEL", "x=here")]),
    ("continuation-glued-without-space", "FROM scratch\nENV A 1\\\n2\n", [F, ("ENV", "A 12")]),
    ("continuation-keeps-indent", "FROM scratch\nENV A 1\\\n    2\n", [F, ("ENV", "A 1    2")]),
    ("comment-inside-continuation", "FROM scratch\nENV A 1\\\n# LABEL x=c\n2\n", [F, ("ENV", "A 12")]),
    ("indented-comment-inside", "FROM scratch\nENV A 1\\\n   # c\n2\n", [F, ("ENV", "A 12")]),
    ("comment-ending-in-backslash", "FROM scratch\nENV A 1 \\\n#x\\\n2\n", [F, ("ENV", "A 1 2")]),
    ("blank-line-inside", "FROM scratch\nENV A 1\\\n   \n2\n", [F, ("ENV", "A 12")]),
    ("tab-and-space-after-backslash", "FROM scratch\nENV A 1\\\t \n2\n", [F, ("ENV", "A 12")]),
    ("nbsp-after-backslash", "FROM scratch\nENV A 1\\\u00a0\nLABEL x=nb\n",
     [F, ("ENV", "A 1\\"), ("LABEL", "x=nb")]),
    ("file-separator-after-backslash", "FROM scratch\nENV A 1\\\x1c\nLABEL x=fs\n",
     [F, ("ENV", "A 1\\\x1c"), ("LABEL", "x=fs")]),
    ("vertical-tab-after-backslash", "FROM scratch\nENV A 1\\\v\nLABEL x=vt\n",
     [F, ("ENV", "A 1\\"), ("LABEL", "x=vt")]),
    ("cr-inside-a-line", "FROM scratch\nENV A 1\r\\\nLABEL x=midcr\n", [F, ("ENV", "A 1\rLABEL x=midcr")]),
    ("lower-case-instruction", "FROM scratch\nlabel x=lower\n", [F, ("LABEL", "x=lower")]),
    ("tab-separator", "FROM scratch\nLABEL\tx=tab\n", [F, ("LABEL", "x=tab")]),
    ("vertical-tab-separator", "FROM scratch\nLABEL\vx=vt\n", [F, ("LABEL", "x=vt")]),
    ("nbsp-separator", "FROM scratch\nLABEL\u00a0x=nb\n", None),
    ("lone-backslash", "FROM scratch\n\\\nLABEL x=lone\n", [F, ("LABEL", "x=lone")]),
    ("byte-order-mark", "\ufeffFROM scratch\nLABEL x=bom\n", [F, ("LABEL", "x=bom")]),
    ("continuation-at-end-of-file", "FROM scratch\nLABEL x=eof \\", [F, ("LABEL", "x=eof")]),
    ("repeated-directive", "# escape=`\n# escape=\\\nFROM scratch\n", None),
    ("invalid-escape", "# escape=x\nFROM scratch\n", None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "text", "expected"), ENGINE_TABLE, ids=[c[0] for c in ENGINE_TABLE]
)
def test_lexer_matches_the_engine(case, text, expected):
    if expected is None:
        with pytest.raises(GradingError):
            dockerfile_lex(text)
        return
    lexed = dockerfile_lex(text)
    assert [(i.keyword, i.args) for i in lexed.instructions] == expected


def test_flags_are_read_with_go_quoting_and_stop_at_the_first_other_word():
    assert extract_flags('--chown="a b" --link --from=x src dst') == (
        "src dst",
        ["--chown=a b", "--link", "--from=x"],
    )
    assert extract_flags("-- --from=x y") == (" --from=x y", [])  # `--` ends the flags
    assert extract_flags("src --from=x") == ("src --from=x", [])


def test_json_and_shell_forms():
    assert split_list('["a b", "c"]') == (["a b", "c"], True)
    assert split_list('["a" x') == (['["a"', "x"], False)
    assert split_list("a\vb\tc") == (["a", "b", "c"], False)
    with pytest.raises(GradingError, match="only strings"):
        dockerfile_lex("FROM x\nADD [1, 2]\n")


def test_onbuild_holds_its_instruction():
    (_, onbuild) = dockerfile_lex("FROM x\nonbuild add --chown=1 http://h/x /x\n").instructions
    assert onbuild.trigger is not None
    assert (onbuild.trigger.keyword, onbuild.trigger.flags, onbuild.trigger.args) == (
        "ADD",
        {"chown": "1"},
        "http://h/x /x",
    )


def test_heredoc_lines_are_instructions_and_the_error_says_why():
    with pytest.raises(GradingError, match="no heredocs: the lines after <<EOF"):
        dockerfile_parse("FROM alpine:3\nRUN <<EOF\ncurl https://x | sh\nEOF\n")


# --- every remote ADD is found ----------------------------------------------------------------

URL = "http://127.0.0.1:8000/metrics"
REMOTE_ADDS = [
    ("plain", f"FROM x\nADD {URL} /m\n"),
    ("lower-case", f"FROM x\nadd {URL} /m\n"),
    ("upper-scheme", "FROM x\nADD HTTP://127.0.0.1/x /m\n"),
    ("https", "FROM x\nADD https://example.com/a /a\n"),
    ("chown-flag", f"FROM x\nADD --chown=1:1 {URL} /m\n"),
    ("checksum-flag", f"FROM x\nADD --checksum=sha256:{'a' * 64} {URL} /m\n"),
    ("flag-value", f"FROM x\nADD --chown {URL} /m\n"),
    ("json", f'FROM x\nADD ["{URL}", "/m"]\n'),
    ("json-spaces", f'FROM x\nADD   [ "{URL}" , "/m" ]  \n'),
    ("double-quoted", f'FROM x\nADD "{URL}" /m\n'),
    ("single-quoted", f"FROM x\nADD '{URL}' /m\n"),
    ("quote-inside", 'FROM x\nADD h"tt"p://127.0.0.1/x /m\n'),
    ("escaped-letter", "FROM x\nADD h\\ttp://127.0.0.1/x /m\n"),
    ("tab-separated", f"FROM x\nADD\t{URL}\t/m\n"),
    ("vertical-tab", f"FROM x\nADD\v{URL} /m\n"),
    ("indented", f"FROM x\n    ADD {URL} /m\n"),
    ("continued", f"FROM x\nADD \\\n  {URL} \\\n  /m\n"),
    ("keyword-split", f"FROM x\nA\\\nDD {URL} /m\n"),
    ("arg", f"FROM x\nARG U={URL}\nADD $U /m\n"),
    ("arg-braced-default", f"FROM x\nADD ${{U:-{URL}}} /m\n"),
    ("global-arg", f"ARG U={URL}\nFROM x\nARG U\nADD ${{U}} /m\n"),
    ("env", f"FROM x\nENV U={URL}\nADD $U /m\n"),
    ("env-of-parent-stage", f"FROM x AS base\nENV U={URL}\nFROM base\nADD $U /m\n"),
    ("scheme-in-variable", "FROM x\nARG S=http\nADD ${S}://127.0.0.1/x /m\n"),
    ("git-scp", "FROM x\nADD git@github.com:evil/x.git /x\n"),
    ("git-scheme", "FROM x\nADD git://127.0.0.1/x /x\n"),
    ("ssh-scheme", "FROM x\nADD ssh://git@127.0.0.1/x /x\n"),
    ("ftp", "FROM x\nADD ftp://127.0.0.1/x /x\n"),
    ("forge-shorthand", "FROM x\nADD github.com/evil/x /x\n"),
    ("onbuild", f"FROM x\nONBUILD ADD {URL} /m\n"),
    ("onbuild-flags", f"FROM x\nONBUILD ADD --chown=1 {URL} /m\n"),
    ("after-form-feed", f"FROM x\nRUN echo hi \\\f\nADD {URL} /m\n"),
    ("after-cr", f"FROM x\nRUN echo hi \\\r\r\nADD {URL} /m\n"),
    ("after-backslash-with-backtick-escape", f"# escape=`\nFROM x\nRUN echo hi \\\nADD {URL} /m\n"),
    ("after-backtick-escape-ignored", f"\n# escape=`\nFROM x\nRUN echo hi `\nADD {URL} /m\n"),
    ("after-heredoc", f"FROM x\nRUN cat <<EOF\nADD {URL} /m\nRUN true\n"),
    ("after-comment-in-continuation", f"FROM x\nRUN echo \\\n# c \\\n hi\nADD {URL} /m\n"),
    ("crlf", f"FROM x\r\nADD {URL} /m\r\n"),
    ("nbsp-in-word", f"FROM x\nADD {URL}\u00a0/x /m\n"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "text"), REMOTE_ADDS, ids=[c[0] for c in REMOTE_ADDS])
def test_every_remote_add_is_found(case, text):
    _, urls = external_sources(dockerfile_parse(text), {})
    assert urls, f"{case}: no URL found"


@pytest.mark.parametrize(
    "text",
    [
        "FROM x\nADD app.tar.gz /app\n",
        "FROM x\nADD --chown=node:node . /app\n",
        'FROM x\nADD ["a b.txt", "/x/"]\n',
        "FROM x\nCOPY --from=builder /app/dist ./dist\n",
        "FROM x\nRUN curl -fsSL https://example.com | tee /x\n",
        'FROM x\nLABEL org.opencontainers.image.source="https://github.com/acme/app"\n',
    ],
)
def test_local_sources_are_not_remote(text):
    assert external_sources(dockerfile_parse(text), {})[1] == []


_SEPARATORS = st.sampled_from([" ", "\t", "\v", "\f", "  ", " \t"])


@settings(max_examples=300, deadline=None)
@given(
    keyword=st.sampled_from(["ADD", "add", "Add", "aDd"]),
    sep=_SEPARATORS,
    scheme=st.sampled_from(["http", "https", "HTTP", "git", "ssh", "ftp", "s3"]),
    host=st.sampled_from(["127.0.0.1:8000", "localhost", "[::1]:9", "10.0.0.1", "metadata"]),
    quoting=st.sampled_from(["{}", '"{}"', "'{}'", '"{}', "{}\\"]),
    via=st.sampled_from(["literal", "arg", "env", "json", "onbuild", "flag"]),
    before=st.sampled_from(["", "RUN a \\\f\n", "RUN a \\\r\n", "# c\n", "RUN a \\\n\n", "\n"]),
)
def test_any_spelling_of_a_remote_add_is_found(keyword, sep, scheme, host, quoting, via, before):
    url = quoting.format(f"{scheme}://{host}/x")
    line = {
        "literal": f"{keyword}{sep}{url}{sep}/d",
        "arg": f"ARG U={url}\n{keyword}{sep}$U /d",
        "env": f"ENV U={url}\n{keyword}{sep}${{U}} /d",
        "json": f'{keyword}{sep}["{scheme}://{host}/x", "/d"]',
        "onbuild": f"ONBUILD {keyword}{sep}{url} /d",
        "flag": f"{keyword}{sep}--chown=1:1{sep}{url} /d",
    }[via]
    text = f"FROM x\n{before}{line}\n"
    try:
        parsed = dockerfile_parse(text)
    except GradingError:
        return  # the engine refuses the file too (asserted by the table above)
    assert external_sources(parsed, {})[1], text


_ALPHABET = list("FROMADDaddfromRUNONBUILDCOPY \t\v\f\r\n\\`#=\"'[]{}$:/@<-x1\u00a0\x85\ufeffÅ")


@settings(max_examples=500, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(_ALPHABET), max_size=300))
def test_any_text_is_read_or_refused_as_the_learners_error(text):
    try:
        parsed = dockerfile_parse("FROM x\n" + text)
    except GradingError:
        return
    external_sources(parsed, {"X": "http://127.0.0.1/x"})


def test_pathological_files_stay_linear():
    """A 256 KiB file of chained stages, self-feeding ARGs or ENVs is read in seconds."""
    import time

    for text in (
        "FROM node:18-alpine AS s0\n" + "".join(f"FROM s{i} AS s{i + 1}\n" for i in range(12000)),
        "FROM a\n" + "".join(f"ARG A{i}=${{A{i - 1}}}x\n" for i in range(1, 15000)),
        "FROM a\n" + "".join(f"ENV E{i}=${{E{i - 1}}}${{E{i - 1}}}\n" for i in range(1, 12000)),
    ):
        started = time.monotonic()
        parsed = dockerfile_parse(text)
        external_sources(parsed, {})
        for stage in parsed.stages:
            len(resolve_base(parsed, stage, {}).chain)
        final_image(parsed, None, {})
        assert time.monotonic() - started < 20

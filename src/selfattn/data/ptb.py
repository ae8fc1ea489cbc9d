"""Raw English text -> Penn Treebank tokens, the tokens a WSJ-trained tagger was taught on.

``ptb_tokenize("Don't stop, dog.")`` -> ``["Do", "n't", "stop", ",", "dog", "."]``. The rules
are the Treebank's (as in its ``tokenizer.sed``): punctuation split off words, a final
period split off the sentence, clitics (``'s 're 've 'll 'd 'm n't``) split from their
word, double quotes turned into the opening ````` `` ````` and closing ``''`` the corpus
uses, brackets kept as they are. Written here because ``tokenizers``' pre-tokenizers split
``don't`` into ``don ' t`` and keep no Treebank conventions, so a tagger fed their
tokens meets words it never saw.
"""

from __future__ import annotations

import re

__all__ = ["ptb_detokenize", "ptb_tokenize"]

_RULES = [
    (re.compile(r'^"'), "`` "),
    (re.compile(r'(``)'), r" \1 "),
    (re.compile(r'([ (\[{<])"'), r"\1 `` "),
    (re.compile(r"\.\.\."), " ... "),
    (re.compile(r"[,;:@#$%&]"), r" \g<0> "),
    (re.compile(r"([^.])(\.)([\]\)}>\"']*)\s*$"), r"\1 \2\3 "),
    (re.compile(r"[?!]"), r" \g<0> "),
    (re.compile(r"[\]\[(){}<>]"), r" \g<0> "),
    (re.compile(r"--"), " -- "),
    (re.compile(r'"'), " '' "),
    (re.compile(r"(\S)('')"), r"\1 \2 "),
    (re.compile(r"([^' ])('[sS]|'[mM]|'[dD]|') "), r"\1 \2 "),
    (re.compile(r"([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) "), r"\1 \2 "),
    (re.compile(r"\b(can)(not)\b", re.IGNORECASE), r"\1 \2"),
    (re.compile(r"\b(gon)(na)\b", re.IGNORECASE), r"\1 \2"),
    (re.compile(r"\b(wan)(na)\b", re.IGNORECASE), r"\1 \2"),
]


def ptb_tokenize(text: str) -> list[str]:
    """Penn Treebank tokens of one sentence of raw text (see the module doc)."""
    text = f" {text.strip()} "
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text.split()


def ptb_detokenize(tokens: list[str]) -> str:
    """Tokens back to readable text: no space before punctuation and clitics, quotes restored."""
    out = ""
    for token in tokens:
        word = {"``": '"', "''": '"', "-LRB-": "(", "-RRB-": ")"}.get(token, token)
        glue = (token in {",", ".", ":", ";", "?", "!", "%", ")", "]", "}", "''", "..."}
                or token.lower() in {"'s", "'re", "'ve", "'ll", "'d", "'m", "n't", "'"})
        if out and not glue and not out.endswith(("(", "[", "{", "$", '"' if out.count('"') % 2 else "\0")):
            out += " "
        out += word
    return out

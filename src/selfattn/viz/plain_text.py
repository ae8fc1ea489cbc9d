"""Labels from data drawn as written, never as mathtext.

matplotlib reads the text between two ``$`` as mathtext: a token ``$\\foo$`` stopped the
figure with a parse error, and ``$x$`` drew as maths. Every Text made from data (tokens,
titles holding a sentence or a path, class and group names) takes ``**PLAIN``; legends,
whose Texts matplotlib makes itself, go through :func:`plain_legend`.
"""

from __future__ import annotations

__all__ = ["PLAIN", "plain_legend"]

PLAIN = {"parse_math": False}


def plain_legend(legend):
    """Turn mathtext off in a legend's entries and title; returns the legend."""
    if legend is not None:
        for text in [*legend.get_texts(), legend.get_title()]:
            text.set_parse_math(False)
    return legend

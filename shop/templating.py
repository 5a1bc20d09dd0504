"""Rendering of plain-text templates (e-mail bodies and subjects) without HTML escaping."""

from __future__ import annotations

from django.template.loader import render_to_string

TEXT_ENGINE = "text"  # settings.TEMPLATES: the same directories, autoescape off


def render_text(template_name: str, context: dict | None = None) -> str:
    """A text template rendered as text: "O'Brien" and "Smith & Sons" stay as typed.

    Never use it for HTML: nothing is escaped.
    """
    return render_to_string(template_name, context, using=TEXT_ENGINE)

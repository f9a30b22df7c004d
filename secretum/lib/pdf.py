"""The base of every PDF Secretum makes: every name prints as written.

fpdf2's built-in fonts cover Latin-1 only, so "Łucja Pękała" would print as "ucja Pkaa" and
"Yılmaz" as "Ylmaz": a wrong name on a medical document. Every document therefore embeds DejaVu
Sans (regular and bold, shipped with Secretum under its Bitstream Vera licence, see
``fonts/LICENSE``), subset to the glyphs used, so it prints the same on any machine whatever fonts
the server or the reader has. Each document declares its language (``/Lang``, read aloud
correctly by a screen reader) and Secretum as its creator.
"""

from __future__ import annotations

from pathlib import Path

from django.utils.translation import get_language
from fpdf import FPDF

FONTS = Path(__file__).resolve().with_name("fonts")
FAMILY = "DejaVu"


class Document(FPDF):
    """An A4 document with the embedded Unicode font, its title, language and page footer."""

    footer_text = ""

    def __init__(self, orientation: str, title: str) -> None:
        super().__init__(orientation=orientation, format="A4")
        self.add_font(FAMILY, "", FONTS / "DejaVuSans.ttf")
        self.add_font(FAMILY, "B", FONTS / "DejaVuSans-Bold.ttf")
        self.set_font(FAMILY, size=10)
        self.set_title(title)
        self.set_lang(get_language() or "en")
        self.set_creator("Secretum")
        self.set_margins(12, 12, 12)
        self.set_auto_page_break(True, margin=16)

    def footer(self) -> None:
        if not self.footer_text:
            return
        self.set_y(-12)
        self.set_font(FAMILY, size=7)
        self.set_text_color(90, 100, 110)
        self.cell(0, 5, f"{self.footer_text} - {self.page_no()}/{{nb}}", align="C")

    def paragraph(self, text: str, size: float = 10, style: str = "", height: float = 5) -> None:
        """One paragraph of text, wrapped, then back to the left margin."""
        self.set_font(FAMILY, style=style, size=size)
        self.multi_cell(0, height, text, new_x="LMARGIN", new_y="NEXT")

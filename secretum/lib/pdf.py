"""The base of every PDF Secretum makes: every name prints as written, and every page is tagged.

fpdf2's built-in fonts cover Latin-1 only, so "Łucja Pękała" would print as "ucja Pkaa" and
"Yılmaz" as "Ylmaz": a wrong name on a medical document. Every document therefore embeds DejaVu
Sans (regular and bold, shipped with Secretum under its Bitstream Vera licence, see
``fonts/LICENSE``), subset to the glyphs used, so it prints the same on any machine whatever fonts
the server or the reader has. Each document declares its language (``/Lang``, read aloud
correctly by a screen reader) and Secretum as its creator.

Tagged PDF (issue 16; EN 301 549 clause 10, the PDF 1.7 logical structure of ISO 32000-1
§14.7-14.8): every document is ``/MarkInfo /Marked true`` with a ``/StructTreeRoot`` whose
``Document`` element holds headings, paragraphs, lists, tables (``TR``, ``TH`` with a column
scope, ``TD``) and figures with their ``/Alt`` text, in reading order. Each element's text is
marked content (``BDC``/``EMC`` with an ``MCID``) found back through the ``/ParentTree``; a
paragraph that runs onto the next page continues there under the same element. Running headers,
footers and watermarks are pagination artifacts, outside the tree. The title is shown instead of
the file name (``DisplayDocTitle``). fpdf2 builds a flat tree only (``Document`` > elements), so
the nesting is built here on its structure classes; ``tests/lib/test_pdf_tags.py`` reads every
kind of document back with poppler (``pdfinfo -struct-text``), as assistive technology would.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.utils.translation import get_language
from fpdf import FPDF, ViewerPreferences
from fpdf.line_break import TextLine
from fpdf.output import PDFPage
from fpdf.structure_tree import StructElem, StructureTreeBuilder
from fpdf.syntax import PDFObject
from fpdf.table import Table

FONTS = Path(__file__).resolve().with_name("fonts")
FAMILY = "DejaVu"

# A table heading labels its column (ISO 32000-1 §14.8.5.7, Table 349 /Scope).
_COLUMN_HEADING = "<</O /Table /Scope /Column>>"


class _Element(StructElem):
    """A structure element that may also carry attributes (``/A``)."""

    __slots__ = ("a",)

    def __init__(self, kind: str, parent: PDFObject, page: int, **kwargs: Any) -> None:
        super().__init__(struct_type=f"/{kind}", parent=parent, kids=[], page_number=page, **kwargs)
        self.a: str | None = None


class _ContentReference:
    """Marked content on another page than its element's ``/Pg`` (§14.7.4.2, Table 324)."""

    def __init__(self, page: PDFPage, mcid: int) -> None:
        self.page, self.mcid = page, mcid

    def serialize(self, _security_handler: Any = None, _obj_id: Any = None) -> str:
        return f"<</Type /MCR /Pg {self.page.ref} /MCID {self.mcid}>>"


class _TreeBuilder(StructureTreeBuilder):
    """fpdf2's builder writes the ``Document`` element's children only: write every level."""

    def __iter__(self) -> Iterator[PDFObject]:
        yield self.struct_tree_root
        yield self.doc_struct_elem
        yield self.struct_tree_root.parent_tree
        pending = list(self.doc_struct_elem.k)
        while pending:
            element = pending.pop(0)
            if isinstance(element, StructElem):
                yield element
                pending.extend(element.k)


class Document(FPDF):
    """An A4 document (or ``paper``: a prescription is A5) with the embedded Unicode font, its
    title, language, page footer and structure tree. Draw text inside
    ``element(..., content=True)`` (``paragraph`` and ``table`` do): text drawn outside any
    element is invisible to a screen reader."""

    footer_text = ""

    def __init__(
        self, orientation: str, title: str, paper: str | tuple[float, float] = "A4"
    ) -> None:
        super().__init__(orientation=orientation, format=paper)
        self.add_font(FAMILY, "", FONTS / "DejaVuSans.ttf")
        self.add_font(FAMILY, "B", FONTS / "DejaVuSans-Bold.ttf")
        self.set_font(FAMILY, size=10)
        self.set_title(title)
        self.set_lang(get_language() or "en")
        self.set_creator("Secretum")
        self.set_margins(12, 12, 12)
        self.set_auto_page_break(True, margin=16)
        self.viewer_preferences = ViewerPreferences(display_doc_title=True)
        self.struct_builder = _TreeBuilder()
        self._open: list[StructElem] = [self.struct_builder.doc_struct_elem]
        self._marking: _Element | None = None
        self._artifacts = 0

    # --- the structure tree ---------------------------------------------------------------

    @contextmanager
    def element(
        self, kind: str, *, content: bool = False, alt: str | None = None, attributes: str = ""
    ) -> Iterator[_Element]:
        """A structure element (``P``, ``H1``, ``L``, ``LI``, ``Figure``...) under the open one.
        ``content``: what is drawn inside is this element's marked content (a leaf); otherwise
        it only groups the elements opened inside it."""
        parent = self._open[-1]
        element = _Element(kind, parent, self.page, alt=alt)
        element.a = attributes or None
        element.pg = self.pages[self.page]  # type: ignore[assignment]  # fpdf2 declares None, set at output
        parent.k.append(element)
        self._open.append(element)
        if content:
            self._mark(element)
        try:
            yield element
        finally:
            if content:
                self._unmark()
            self._open.pop()

    def _mark(self, element: _Element) -> None:
        builder = self.struct_builder
        spid = builder.spid_per_page_number.setdefault(self.page, len(builder.spid_per_page_number))
        self.pages[self.page].struct_parents = spid
        # The parent tree maps each MCID of the page, in order, to its element.
        owners = builder.struct_tree_root.parent_tree.nums[spid]
        mcid = len(owners)
        owners.append(element)
        here = self.pages[self.page]
        element.k.append(mcid if element.pg is here else _ContentReference(here, mcid))
        self._out(f"{element.s} <</MCID {mcid}>> BDC")
        self._marking = element

    def _unmark(self) -> None:
        self._out("EMC")
        self._marking = None

    @contextmanager
    def artifact(self) -> Iterator[None]:
        """Drawn for the page's sake, not read: running headers and footers, watermarks."""
        self._artifacts += 1
        self._out("/Artifact <</Type /Pagination>> BDC")
        try:
            yield
        finally:
            self._out("EMC")
            self._artifacts -= 1

    def add_page(self, *args: Any, **kwargs: Any) -> None:
        # Text that runs onto the next page: its marked content closes before the footer and
        # goes on after the header, under the same element.
        marking = self._marking
        if marking is not None:
            self._unmark()
        super().add_page(*args, **kwargs)
        if marking is not None:
            self._mark(marking)

    def _render_styled_text_line(self, text_line: TextLine, *args: Any, **kwargs: Any) -> bool:
        # A wrapped line loses the space it broke at, and the structure tree's text would run
        # its last word into the next line's first ("numéro" + "national"): each line read as
        # marked content keeps one trailing space, drawn past its last word (nothing visible).
        fragments = list(text_line.fragments)
        if self._marking is not None and fragments and fragments[-1].characters[-1:] != [" "]:
            last = fragments[-1]
            fragments[-1] = last.clone(characters=[*last.characters, " "], link=last.link)
            text_line = text_line._replace(fragments=fragments)
        return super()._render_styled_text_line(text_line, *args, **kwargs)

    @contextmanager
    def table(self, *args: Any, **kwargs: Any) -> Iterator[Table]:
        table = _TaggedTable(self, *args, **kwargs)
        yield table
        table.render()

    # --- what the documents draw ----------------------------------------------------------

    def header(self) -> None:
        with self.artifact():
            self.running_header()

    def running_header(self) -> None:
        """What a subclass draws at the top of every page (an artifact)."""

    def footer(self) -> None:
        if not self.footer_text:
            return
        with self.artifact():
            self.set_y(-12)
            self.set_font(FAMILY, size=7)
            self.set_text_color(90, 100, 110)
            self.cell(0, 5, f"{self.footer_text} - {self.page_no()}/{{nb}}", align="C")

    def paragraph(
        self, text: str, size: float = 10, style: str = "", height: float = 5, tag: str = "P"
    ) -> None:
        """One paragraph of text, wrapped, then back to the left margin; ``tag`` names it in
        the structure tree (``H1``, ``H2``, ``LBody``...)."""
        self.set_font(FAMILY, style=style, size=size)
        with self.element(tag, content=True):
            self.multi_cell(0, height, text, new_x="LMARGIN", new_y="NEXT")

    def items(self, texts: list[str], size: float = 10) -> None:
        """A list (``L``), one item (``LI`` > ``LBody``) per text."""
        with self.element("L"):
            for text in texts:
                with self.element("LI"):
                    self.paragraph(text, size=size, tag="LBody")


class _TaggedTable(Table):
    """fpdf2's table, tagged ``Table`` > ``TR`` > ``TH``/``TD``; the heading rows repeated on
    top of a new page are artifacts (read once, at the top of the table)."""

    _fpdf: Document

    def render(self) -> None:
        self._rows_done: set[int] = set()
        with self._fpdf.element("Table"):
            super().render()

    def _render_table_row(self, i: int, *args: Any, **kwargs: Any) -> None:
        if i in self._rows_done:
            with self._fpdf.artifact():
                super()._render_table_row(i, *args, **kwargs)
            return
        self._rows_done.add(i)
        with self._fpdf.element("TR"):
            super()._render_table_row(i, *args, **kwargs)

    def _render_table_cell(self, i: int, j: int, cell: Any, *args: Any, **kwargs: Any) -> Any:
        # fpdf2 2.8.9 calls it with keywords; without cell_height_info it only measures.
        if (
            kwargs.get("cell_height_info") is None or self._fpdf._artifacts
        ):  # measuring only, or a repeated heading
            return super()._render_table_cell(i, j, cell, *args, **kwargs)
        heading = i < self._num_heading_rows
        with self._fpdf.element(
            "TH" if heading else "TD",
            content=True,
            attributes=_COLUMN_HEADING if heading else "",
        ):
            return super()._render_table_cell(i, j, cell, *args, **kwargs)

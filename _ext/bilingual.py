"""The book's editions, English and 简体中文, from one source: a link to the other language on every page.

English is the source; ``tools/editions.py`` builds the Chinese edition
from the same notebooks and pages with the catalogues in ``locale/`` and
puts it at ``zh_CN/`` inside the English site (``_build/html/zh_CN/``). This
extension (both builds load it through ``_config.yml``):

- writes, at the top of every page of the HTML site, a link to the same page
  in the other edition (and ``<link rel="alternate" hreflang>`` in its head);
- drops the invisible markers of ``tools/claims.py`` from the text, so a
  quoted result is translated as what it says;
- leaves out of translation every text with no word outside its markup (a
  table cell holding ``73.8 %``, ``+2.4`` or ``$\\sin\\theta$``, a displayed
  equation): such text is the same in both editions, and a re-measured
  number then stales no translation.
"""

from __future__ import annotations

import re

from docutils import nodes
from sphinx.transforms import SphinxTransform

# Each edition: its name in its own language, and where its site sits inside the English one.
EDITIONS: dict[str, tuple[str, str]] = {
    "en": ("English", ""),
    "zh_CN": ("简体中文", "zh_CN/"),
}
WORD = re.compile(r"[^\W\d_]{2}")  # two letters in a row, of any script
# What a translation keeps exactly as the English has it: roles ({glue:text}`x:.1f`, {doc}`scaling`), code
# spans, maths, link targets, HTML comments (the runtime markers), footnote references. Text that is only
# these, numbers and punctuation is no message at all.
MARKUP = re.compile(
    r"\{[\w:.-]+\}`[^`]*`"  # a role with its content
    r"|`[^`]+`"  # a code span
    r"|\$\$.+?\$\$|\$[^$\s][^$]*?\$"  # maths
    r"|\]\([^)\s]+\)"  # a link's target
    r"|<!--.*?-->"  # an HTML comment
    r"|\[\^[^\]]+\]",  # a footnote reference
    re.S,
)


def has_words(text: str) -> bool:
    r"""Whether ``text`` holds a word outside its markup: only then is it a message to translate.

    >>> has_words("73.8 %"), has_words("`tlbook.augment`"), has_words("$\\begin{pmatrix}1&0\\end{pmatrix}$")
    (False, False, False)
    >>> has_words("`hflip()` flips"), has_words("水平翻转")
    (True, True)
    """
    return bool(WORD.search(MARKUP.sub(" ", text)))


def edition_links(pagename: str, language: str) -> list[tuple[str, str, str, bool]]:
    """(language, name, relative link, is this page) for each edition of page ``pagename``.

    >>> [link for _, _, link, _ in edition_links("book/04_finetuning", "en")]
    ['04_finetuning.html', '../zh_CN/book/04_finetuning.html']
    >>> [link for _, _, link, _ in edition_links("book/04_finetuning", "zh_CN")]
    ['../../book/04_finetuning.html', '04_finetuning.html']
    """
    up = "../" * (pagename.count("/") + EDITIONS[language][1].count("/"))
    leaf = pagename.rsplit("/", 1)[-1] + ".html"
    return [
        (
            lang,
            name,
            leaf if lang == language else f"{up}{prefix}{pagename}.html",
            lang == language,
        )
        for lang, (name, prefix) in EDITIONS.items()
    ]


def _language(app) -> str:
    language = app.config.language or "en"
    return language if language in EDITIONS else "en"


def _add_links(app, pagename, templatename, context, doctree) -> None:
    if app.builder.name != "html" or doctree is None:
        return
    links = edition_links(pagename, _language(app))
    items = " · ".join(
        f'<span class="tlbook-this-edition">{name}</span>'
        if here
        else f'<a href="{href}" hreflang="{lang.replace("_", "-")}" lang="{lang.replace("_", "-")}">{name}</a>'
        for lang, name, href, here in links
    )
    context["body"] = (
        f'<nav class="tlbook-editions" aria-label="Language / 语言">{items}</nav>\n'
        + context.get("body", "")
    )
    context["metatags"] = context.get("metatags", "") + "".join(
        f'\n<link rel="alternate" hreflang="{lang.replace("_", "-")}" href="{href}">'
        for lang, _, href, here in links
        if not here
    )


# tools/claims.py's markers around a quoted result, e.g. <!-- claim:study-time-sweep -->...<!-- /claim:... -->
CLAIM_MARKER = re.compile(r"<!-- /?claim:[a-z0-9-]+ -->")


class DropClaimMarkers(SphinxTransform):
    """Before translation: the invisible markers of tools/claims.py leave the text.

    They exist for the script that rewrites the quoted results in the Markdown source; rendered, they
    are empty HTML comments. In a message they would be translated along, and a translated table cell
    that begins with one is parsed as an HTML block and shown as text. Without them a message is
    what the reader reads.
    """

    default_priority = 9

    def apply(self, **kwargs) -> None:
        for node in list(self.document.findall(nodes.raw)):
            if (
                CLAIM_MARKER.fullmatch(node.astext().strip())
                and node.parent is not None
            ):
                parent = node.parent
                parent.remove(node)
                if getattr(parent, "rawsource", None):
                    parent.rawsource = CLAIM_MARKER.sub("", parent.rawsource)


class WordlessTextIsNotTranslated(SphinxTransform):
    """Before Sphinx's Locale transform (priority 20): text with no word in it is not a message."""

    default_priority = 10

    def apply(self, **kwargs) -> None:
        for node in self.document.findall(nodes.TextElement):
            if isinstance(node, nodes.Inline):
                # never an inline node: messages are blocks, and Sphinx moves the children of an inline
                # node marked "translatable" to the end of its paragraph (RemoveTranslatableInline)
                continue
            text = getattr(node, "rawsource", "") or ""
            if isinstance(node, nodes.math_block) or (
                text
                and not isinstance(node, nodes.literal_block)
                and not has_words(text)
            ):
                node["translatable"] = False


class TranslateTocCaptions(SphinxTransform):
    """The table of contents' part captions, in the edition's language.

    sphinx-external-toc inserts the toctrees (priority 100) after Sphinx's Locale transform (20) has
    translated the page, so their captions, which the gettext builder does extract, stay in English.
    """

    default_priority = 101

    def apply(self, **kwargs) -> None:
        from os import path

        from sphinx import addnodes
        from sphinx.locale import init as init_locale
        from sphinx.util.i18n import docname_to_domain

        if not self.config.language or self.config.language == "en":
            return
        domain = docname_to_domain(self.env.docname, self.config.gettext_compact)
        dirs = [path.join(self.env.srcdir, d) for d in self.config.locale_dirs]
        catalog, found = init_locale(dirs, self.config.language, domain)
        if not found:
            return
        for toctree in self.document.findall(addnodes.toctree):
            caption = toctree.get("caption")
            if caption and catalog.gettext(caption) != caption:
                toctree["caption"] = toctree["rawcaption"] = catalog.gettext(caption)


def setup(app):
    _keep_notebook_renderers()
    app.add_transform(TranslateTocCaptions)
    app.add_transform(DropClaimMarkers)
    app.add_transform(WordlessTextIsNotTranslated)
    app.connect("html-page-context", _add_links)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


# Glued values in translated text. myst-nb parses a translated paragraph of a notebook as plain
# Markdown in a document of its own, which lacks the notebook's renderer, so every {glue:text} role in
# a translation would fail ("No key ... found in glue data"). The notebook's renderer, kept from the
# page's own parse, is handed to that document: a translation then pastes the same glued value as the
# English page, or, for a sentence glued in several languages, the one in the edition's language.
_RENDERER = "tlbook_nb_renderer"


def _keep_notebook_renderers() -> None:
    from myst_nb import sphinx_ as nb

    if getattr(nb.Parser.parse, "_tlbook", False):
        return
    original_load, original_parse = nb.load_renderer, nb.Parser.parse

    made: list = []  # the renderer of the notebook being parsed

    def load_renderer(name):
        factory = original_load(name)

        def make(mdit_renderer, logger):
            made.append(factory(mdit_renderer, logger))
            return made[-1]

        return make

    def parse(self, inputstring, document):
        env = getattr(document.settings, "env", None)
        if not document.current_source.endswith("<translated>"):
            made.clear()
            result = original_parse(self, inputstring, document)
            if env is not None and made:
                env.temp_data[_RENDERER] = made[-1]
            return result
        renderer = env.temp_data.get(_RENDERER) if env is not None else None
        if renderer is None:
            return original_parse(self, inputstring, document)
        # A sentence glued in the edition's language (tlbook.plots.glue_sentence: name__zh_CN) is
        # pasted where the text names the sentence.
        client = renderer.renderer.nb_client
        glued = client._glue_data
        suffix = f"__{env.config.language}"
        client._glue_data = {
            **glued,
            **{
                k.removesuffix(suffix): v
                for k, v in glued.items()
                if k.endswith(suffix)
            },
        }
        document.attributes["nb_renderer"] = renderer
        try:
            return original_parse(self, inputstring, document)
        finally:
            document.attributes.pop("nb_renderer", None)
            client._glue_data = glued

    parse._tlbook = True  # type: ignore[attr-defined]
    nb.load_renderer, nb.Parser.parse = load_renderer, parse

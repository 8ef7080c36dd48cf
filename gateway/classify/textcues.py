"""The words and patterns that mark literal text to render in a prompt.

Every regex here is linear: bounded repetitions and no nested quantifiers.
"""

from __future__ import annotations

import re

QUOTES = re.compile(
    r'"(?P<a>[^"\n]{1,400}?)"'
    r"|\u201c(?P<b>[^\u201c\u201d\n]{1,400}?)[\u201d\u201c]"
    r"|\u201e(?P<c>[^\u201c\u201d\n]{1,400}?)[\u201c\u201d]"
    r"|\u2018(?<![\w\u2019]\u2018)(?P<d>[^\u2018\u2019\n]{1,300}?)\u2019(?!\w)"
    r"|'(?<!\w')(?P<e>[^'\n]{1,300}?)'(?!\w)"
    r"|\u300c(?P<f>[^\u300d\n]{1,300}?)\u300d"
    r"|\u300e(?P<g>[^\u300f\n]{1,300}?)\u300f"
    r"|\u00ab\s?(?P<h>[^\u00bb\n]{1,300}?)\s?\u00bb"
    r"|\u2039(?P<i>[^\u203a\n]{1,300}?)\u203a"
    r"|\u300a(?P<j>[^\u300b\n]{1,300}?)\u300b"
)
ANY_QUOTE = re.compile("[\"'\u201c\u201e\u2018\u300c\u300e\u00ab\u2039\u300a]")

# Words near a quote that say "render this".
RENDER_CUE_WORDS = frozenset(
    [
        # Spanish, French, German, Italian and Portuguese ("con las palabras", "qui dit" …)
        "dice",
        "pone",
        "palabras",
        "texto",
        "dit",
        "mots",
        "texte",
        "aufschrift",
        "schriftzug",
        "worten",
        "scritta",
        "parole",
        "testo",
        "dizeres",
        "palavras",
        "diz",
        "say",
        "says",
        "said",
        "saying",
        "read",
        "reads",
        "reading",
        "written",
        "write",
        "writes",
        "writing",
        "wrote",
        "print",
        "prints",
        "printed",
        "text",
        "texts",
        "word",
        "words",
        "phrase",
        "slogan",
        "tagline",
        "headline",
        "headlines",
        "subheading",
        "heading",
        "title",
        "titled",
        "titles",
        "subtitle",
        "caption",
        "captioned",
        "captions",
        "label",
        "labels",
        "labeled",
        "labelled",
        "lettering",
        "letters",
        "font",
        "typeface",
        "typography",
        "inscribed",
        "inscription",
        "engraved",
        "carved",
        "embroidered",
        "stitched",
        "spell",
        "spells",
        "spelled",
        "spelling",
        "message",
        "quote",
        "stating",
        "states",
        "list",
        "lists",
        "listing",
        "display",
        "displays",
        "displaying",
        "highlights",
        "motto",
        "painted",
        "brand",
        "signage",
        "button",
        "tag",
        "banner",
        "logo",
        "sign",
        "neon",
        "hook",
        "offer",
        "cta",
        "name",
        "named",
        "names",
        "called",
        "entries",
        "item",
        "items",
        "section",
        "sections",
    ]
)
RENDER_CUE_CJK = (
    "写着",
    "上面写",
    "写有",
    "文字",
    "标题",
    "字样",
    "标语",
    "書かれ",
    "書いて",
    "書いた",
    "タイトル",
    "テキスト",
)
# The last words before a quote that mark a title or concept being referred to.
REFERENCE_WORDS = frozenset(
    [
        "from",
        "like",
        "movie",
        "film",
        "song",
        "novel",
        "series",
        "episode",
        "game",
        "show",
        "anime",
        "manga",
        "called",
        "concept",
        "theme",
        "version",
        "painting",
        "artwork",
        "sculpture",
        "piece",
        "album",
    ]
)
REFERENCE_PHRASES = ("style of", "inspired by", "reminiscent of", "so called", "so-called")
# Objects whose quoted phrases are usually meant to appear on them.
TEXT_OBJECT_WORDS = frozenset(
    [
        "sign",
        "signs",
        "signboard",
        "poster",
        "posters",
        "ad",
        "ads",
        "advert",
        "advertisement",
        "advertisements",
        "billboard",
        "banner",
        "flyer",
        "brochure",
        "slide",
        "slides",
        "menu",
        "logo",
        "label",
        "labels",
        "cover",
        "covers",
        "card",
        "cards",
        "tshirt",
        "shirt",
        "sweatshirt",
        "hoodie",
        "mug",
        "storefront",
        "newspaper",
        "magazine",
        "book",
        "chalkboard",
        "whiteboard",
        "blackboard",
        "plaque",
        "placard",
        "tattoo",
        "graffiti",
        "neon",
        "mural",
        "cake",
        "screen",
        "website",
        "app",
        "ui",
        "infographic",
        "certificate",
        "invitation",
        "packaging",
        "package",
        "bottle",
        "can",
        "box",
        "jersey",
        "badge",
        "stamp",
        "coin",
        "note",
        "letter",
        "envelope",
        "receipt",
        "ticket",
        "map",
        "diagram",
        "chart",
        "thumbnail",
        "header",
        "footer",
        "sticker",
        "button",
    ]
)
TEXT_OBJECT_CJK = (
    "海报",
    "广告",
    "招牌",
    "标志",
    "菜单",
    "封面",
    "看板",
    "ポスター",
    "広告",
    "ロゴ",
    "メニュー",
    "表紙",
)

_FREE = r"[^\s\"\u201c\u201d\u2018'\u300c\u00ab.,;:!?()\n][^.,;:!?()\"\u201c\u201d\n]{0,100}"
_WORDS_AFTER = r"[^\W_][\w'!&]*(?:\s[\w'!&]+){0,7}?"
_OBJECT_NOUNS = frozenset(
    [
        "sign",
        "banner",
        "board",
        "placard",
        "plaque",
        "poster",
        "note",
        "card",
        "label",
        "caption",
        "title",
        "headline",
        "shirt",
        "mug",
        "cake",
        "neon",
        "graffiti",
        "tattoo",
        "billboard",
        "sticker",
        "letters",
        "lettering",
        "text",
    ]
)
_WITH_WORDS = frozenset(
    ["with", "has", "having", "bearing", "featuring", "displaying", "showing", "and"]
)
_THAT_WORDS = frozenset(["that", "which", "it"])
_EUROPEAN_INTRODUCERS = (
    "que dice",
    "que pone",
    "con las palabras",
    "con el texto",
    "con la frase",
    "qui dit",
    "avec les mots",
    "avec le texte",
    "avec l'inscription",
    "où l'on lit",
    "mit der aufschrift",
    "mit den worten",
    "mit dem text",
    "mit dem schriftzug",
    "con la scritta",
    "con le parole",
    "con il testo",
    "che dice",
    "com os dizeres",
    "com as palavras",
    "com o texto",
    "que diz",
    "с надписью",
    "со словами",
    "с текстом",
    "на котором написано",
)
# (substrings that must occur in the lower-cased prompt, pattern starting with a literal so it
# scans fast, words one of which must come right before the match or None).
UNQUOTED_RULES: tuple[tuple[tuple[str, ...], re.Pattern[str], frozenset[str] | None], ...] = tuple(
    (triggers, re.compile(pattern), before)
    for triggers, pattern, before in (
        (("the number",), r"the\s+number\s+(?P<t>\d[\d,.]{0,12})", None),
        (
            (" say", " read", " spell", " stat"),
            rf"(?:says|reads|read|said|spells|spell|states)\s+(?P<t>{_FREE})",
            _THAT_WORDS,
        ),
        (
            (" reading ", " saying ", " spelling ", " stating "),
            rf"(?:reading|saying|spelling(?:\s+out)?|stating)\s+(?P<t>{_FREE})",
            _OBJECT_NOUNS,
        ),
        (
            (
                "the word",
                "the text",
                "the phrase",
                "the slogan",
                "the caption",
                "the inscri",
                "the message",
                "the letter",
                "the title",
            ),
            r"the\s+(?:words?|text|phrase|slogan|caption|inscription|message|letters|lettering|"
            rf"title)\s+(?P<t>{_FREE})",
            _WITH_WORDS,
        ),
        (("titled ", "captioned "), rf"(?:titled|captioned)\s+(?P<t>{_FREE})", None),
        (
            (
                "written ",
                "printed ",
                "painted ",
                "spelled ",
                "engraved ",
                "carved ",
                "embroidered ",
                "stitched ",
                "inscribed ",
                "scrawled ",
                "etched ",
            ),
            r"with\s+(?!(?:a|an|some|his|her|their|its|many|several|two|three)\b)"
            r"(?!the\s+(?!(?:words?|number|text|letters?|phrase|name)\b))"
            rf"(?P<t>{_WORDS_AFTER})\s+(?:written|printed|painted|spelled|engraved|"
            r"carved|embroidered|stitched|inscribed|scrawled|etched)\s+"
            r"(?:on|in|across|over|onto|into|along)\b",
            None,
        ),
        (
            ("writing ",),
            r"writing\s+(?!(?:a|an|the|his|her|their|its|some|with|in|on|down|about)\b)"
            r"(?P<t>[^\W_][\w'!&]*(?:\s[\w'!&]+){0,5}?)\s+on\b",
            None,
        ),
        (
            ("写", "印着", "刻着", "文字", "标题", "标语"),
            r"(?:写着|上面写着?|写有|写上|印着|刻着|文字(?:是|为)?|标题(?:是|为)?|标语(?:是|为)?)[:：]?\s?"
            r"(?P<t>[^\s，。、,.!！?？；;:：「」“”\"『』（）()的の]{1,80}"
            r"(?:[，、,][^\s，。、,.!！?？；;:：「」“”\"『』（）()的の]{1,40}){0,7})",
            None,
        ),
        (
            ("と書",),
            r"[にはで](?P<t>[^\sにはで。！？!?「」『』“”\"（）()]{1,80})と書(?:かれ|いて|いた|く)",
            None,
        ),
        (
            # "A sign that says …" in Spanish, French, German, Italian, Portuguese and Russian:
            # labels follow meaning, not language (the eval README's convention).
            _EUROPEAN_INTRODUCERS,
            r"(?:" + "|".join(re.escape(t) for t in _EUROPEAN_INTRODUCERS) + rf")\s+(?P<t>{_FREE})",
            None,
        ),
        (
            # A word the pattern needs, not the colon: prompts of weighted tags ("(tag:1.2)")
            # are full of colons, and this pattern has no literal prefix to scan fast.
            ("says", "reads", "saying", "reading", "written", "printed", "painted", "scrawled"),
            r"(?:(?:written|printed|painted|scrawled)\s+on\s+(?:it|them)|says|reads|saying|reading)"
            r"\s?:\s?(?P<t>[^\s\"\u201c\u201d'(][^.;!?()\"\u201c\u201d\n]{0,200})",
            None,
        ),
    )
)


STOP_WORDS = frozenset(
    [
        "on",
        "in",
        "at",
        "across",
        "above",
        "below",
        "over",
        "under",
        "beneath",
        "written",
        "printed",
        "painted",
        "with",
        "and",
        "while",
        "as",
        "for",
        "from",
        "next",
        "beside",
        "near",
        "by",
        "is",
        "are",
        "was",
        "were",
        "should",
        "must",
        "will",
        "in",
        "front",
        "against",
        "along",
        "onto",
        "into",
        "inside",
        "outside",
        "behind",
        "underneath",
        "which",
        "who",
        "where",
        "when",
        "that",
        "it",
        "its",
    ]
)
LEADING_NOUNS = re.compile(
    r"^(?:the\s+)?(?:words?|number|text|letters?|phrase|name)\s+", re.IGNORECASE
)

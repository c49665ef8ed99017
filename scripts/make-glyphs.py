#!/usr/bin/env python3
"""Makes the pages' own CJK glyphs, so that they look the same on a machine without CJK fonts:
src/web/assets/glyphs.woff, the characters the pages use (every CJK character in src/web, found by
reading the sources) from Noto Serif CJK SC Bold (SIL Open Font License), and
src/web/assets/icon.svg, a red packet with its 福 drawn from the same font.

Run it after adding Chinese text to a page (test/web.glyphs.test.ts fails until you do):
    apt-get install fonts-noto-cjk python3-fonttools && python3 scripts/make-glyphs.py
Needs Debian's python3-fonttools and fonts-noto-cjk; the outputs are committed (a few KB).
"""
import pathlib
import re
import sys

from fontTools import subset
from fontTools.pens.svgPathPen import SVGPathPen
from fontTools.pens.transformPen import TransformPen
from fontTools.ttLib import TTCollection

ROOT = pathlib.Path(__file__).resolve().parent.parent
WEB = ROOT / "src" / "web"
OUT = WEB / "assets"
FONT = pathlib.Path("/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc")
SC = 2  # Noto Serif CJK SC Bold within the collection
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")


def used_characters() -> str:
    found = set()
    for path in WEB.rglob("*"):
        if path.suffix in {".ts", ".html", ".css"}:
            found.update(CJK.findall(path.read_text(encoding="utf-8")))
    return "".join(sorted(found))


def main() -> int:
    if not FONT.exists():
        print(f"{FONT} not found: apt-get install fonts-noto-cjk", file=sys.stderr)
        return 1
    text = used_characters()
    OUT.mkdir(parents=True, exist_ok=True)
    options = subset.Options()
    options.flavor = "woff"
    options.font_number = SC
    options.layout_features = []
    options.name_IDs = [0, 1, 2, 3, 4, 5, 6, 13, 14]  # keep the copyright and the licence
    options.desubroutinize = True
    font = subset.load_font(str(FONT), options)
    sub = subset.Subsetter(options)
    sub.populate(text=text)
    sub.subset(font)
    font.flavor = "woff"
    font.save(str(OUT / "glyphs.woff"))

    # the icon: a red packet, a gold flap and seal, and the seal's character from the font
    face = TTCollection(str(FONT)).fonts[SC]
    glyphs = face.getGlyphSet()
    name = face.getBestCmap()[ord("福")]
    pen = SVGPathPen(glyphs)
    units = face["head"].unitsPerEm
    size = 21  # px: the character inside the 30 px seal, centred on it (32, 35)
    scale = size / units
    glyphs[name].draw(TransformPen(pen, (scale, 0, 0, -scale, 32 - size / 2, 35 + size / 2 - size * 0.12)))
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64">'
        '<rect x="10" y="4" width="44" height="56" rx="7" fill="#c8161d"/>'
        '<path d="M10 11a7 7 0 0 1 7-7h30a7 7 0 0 1 7 7v5c-9 7-35 7-44 0z" fill="#a30f15"/>'
        '<circle cx="32" cy="35" r="15" fill="#f6c544"/>'
        f'<path d="{pen.getCommands()}" fill="#a30f15"/>'
        "</svg>\n"
    )
    (OUT / "icon.svg").write_text(svg, encoding="utf-8")
    size = (OUT / "glyphs.woff").stat().st_size
    print(f"{len(text)} characters ({text}) -> {OUT / 'glyphs.woff'} ({size} bytes), {OUT / 'icon.svg'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Product pictures for the demo catalog, drawn with Pillow: a studio-grey background, a soft
shadow, and the product's shape (one per category) in the colour its title names.

Drawn at twice the size and scaled down, so edges are smooth. Deterministic: the same category
and colour always give the same bytes, so the demo looks the same on every machine.
"""

from __future__ import annotations

import io
from collections.abc import Callable

from PIL import Image, ImageDraw, ImageFilter

# The colours demo titles name, as a product photo would show them.
COLOURS: dict[str, tuple[int, int, int]] = {
    "Black": (38, 38, 42), "White": (245, 245, 242), "Silver": (190, 194, 200), "Grey": (128, 132, 138),
    "Blue": (37, 99, 235), "Navy": (30, 41, 90), "Red": (200, 30, 45), "Green": (34, 139, 76),
    "Olive": (107, 112, 45), "Yellow": (245, 200, 30), "Orange": (240, 120, 30), "Purple": (124, 58, 190),
    "Sand": (214, 190, 150), "Brass": (181, 145, 66), "Gold": (212, 175, 55), "Rainbow": (230, 60, 60),
}  # fmt: skip
# A product whose title names no colour gets its category's usual one.
CATEGORY_COLOURS: dict[str, tuple[int, int, int]] = {
    "Laptops": (150, 155, 162), "Cookware": (60, 60, 66), "Bedding": (170, 190, 215), "Camping": (46, 125, 90),
    "Fiction": (150, 40, 60), "Science": (30, 80, 140), "Cooking": (200, 110, 40), "Travel": (20, 120, 130),
    "Board games": (190, 60, 50), "Puzzles": (70, 110, 180), "Building sets": (230, 180, 30),
}  # fmt: skip
BACKGROUND = (241, 242, 244)
SCALE = 2  # drawn at twice the size, then scaled down (antialiasing)


def colour_for(category: str, colour_name: str | None) -> tuple[int, int, int]:
    if colour_name and colour_name in COLOURS:
        return COLOURS[colour_name]
    return CATEGORY_COLOURS.get(category, (90, 100, 110))


def _shade(rgb: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    """Darker (factor < 1) or lighter (factor > 1) of the same colour, for outlines and details."""
    if factor < 1:
        return tuple(int(c * factor) for c in rgb)
    return tuple(int(c + (255 - c) * (factor - 1)) for c in rgb)


def _detail(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """A detail colour that shows on the body: darker on light bodies, lighter on dark ones."""
    return _shade(rgb, 0.6) if sum(rgb) > 360 else _shade(rgb, 1.45)


Box = tuple[float, float, float, float]


def _r(s: int, *fractions: float) -> list[float]:
    return [f * s for f in fractions]


# --- One drawing per category (coordinates as fractions of the picture's size) ------------------------


def _phone(d: ImageDraw.ImageDraw, s: int, c) -> None:
    # the front, half hidden behind the back, which shows the phone's colour
    d.rounded_rectangle(_r(s, .22, .16, .5, .82), radius=.045 * s, fill=(40, 44, 52), outline=(20, 20, 24), width=s // 150)
    d.rounded_rectangle(_r(s, .24, .19, .48, .79), radius=.02 * s, fill=(70, 110, 170))
    d.rounded_rectangle(_r(s, .4, .12, .72, .86), radius=.05 * s, fill=c, outline=_shade(c, .55), width=s // 120)
    d.rounded_rectangle(_r(s, .44, .16, .56, .3), radius=.03 * s, fill=_shade(c, .75))
    for y in (.18, .24):
        d.ellipse(_r(s, .46, y, .5, y + .04), fill=(20, 20, 24))


def _laptop(d, s, c) -> None:
    d.rounded_rectangle(_r(s, .22, .2, .78, .6), radius=.02 * s, fill=c, outline=_shade(c, .55), width=s // 120)
    d.rectangle(_r(s, .25, .23, .75, .57), fill=(25, 30, 40))
    d.polygon(_r(s, .14, .66, .86, .66, .8, .6, .2, .6), fill=_shade(c, .85), outline=_shade(c, .55))
    d.rectangle(_r(s, .44, .61, .56, .63), fill=_shade(c, .7))


def _headphones(d, s, c) -> None:
    d.arc(_r(s, .24, .16, .76, .72), start=180, end=360, fill=c, width=int(.05 * s))
    for x in (.2, .66):
        d.rounded_rectangle(_r(s, x, .42, x + .14, .68), radius=.05 * s, fill=c, outline=_shade(c, .55), width=s // 120)


def _camera(d, s, c) -> None:
    d.rounded_rectangle(_r(s, .2, .32, .8, .72), radius=.04 * s, fill=c, outline=_shade(c, .55), width=s // 120)
    d.rectangle(_r(s, .3, .26, .45, .33), fill=c)
    d.ellipse(_r(s, .38, .36, .62, .68), fill=_shade(c, .5))
    d.ellipse(_r(s, .43, .42, .57, .62), fill=(30, 50, 80))


def _pan(d, s, c) -> None:
    d.rounded_rectangle(_r(s, .62, .47, .9, .53), radius=.03 * s, fill=_shade(c, .6))
    d.ellipse(_r(s, .12, .26, .66, .74), fill=c, outline=_shade(c, .55), width=s // 100)
    d.ellipse(_r(s, .17, .31, .61, .69), fill=_shade(c, .8))


def _armchair(d, s, c) -> None:
    d.rounded_rectangle(_r(s, .26, .18, .74, .62), radius=.06 * s, fill=c, outline=_shade(c, .6), width=s // 120)
    d.rounded_rectangle(_r(s, .2, .5, .8, .7), radius=.04 * s, fill=_shade(c, .9), outline=_shade(c, .6), width=s // 120)
    for x in (.16, .72):
        d.rounded_rectangle(_r(s, x, .4, x + .12, .72), radius=.04 * s, fill=c, outline=_shade(c, .6), width=s // 120)
    for x in (.22, .74):
        d.rectangle(_r(s, x, .72, x + .04, .82), fill=(90, 70, 50))


def _lamp(d, s, c) -> None:
    d.ellipse(_r(s, .3, .76, .6, .84), fill=c, outline=_shade(c, .55))
    d.line(_r(s, .45, .8, .38, .48, .6, .3), fill=_shade(c, .8), width=int(.025 * s), joint="curve")
    d.polygon(_r(s, .52, .2, .74, .3, .66, .44, .5, .3), fill=c, outline=_shade(c, .55))


def _duvet(d, s, c) -> None:
    for i, y in enumerate((.56, .44, .32)):
        d.rounded_rectangle(_r(s, .2, y, .8, y + .14), radius=.03 * s, fill=_shade(c, 1 - .08 * i),
                            outline=_shade(c, .65), width=s // 150)  # fmt: skip


def _shoe(d, s, c) -> None:
    d.polygon(_r(s, .14, .62, .16, .42, .3, .4, .42, .5, .66, .54, .84, .58, .86, .66, .14, .66), fill=c,
              outline=_shade(c, .55))  # fmt: skip
    d.rectangle(_r(s, .13, .66, .87, .72), fill=(235, 235, 230) if sum(c) < 600 else (60, 60, 60))
    for x in (.36, .42, .48):
        d.line(_r(s, x, .48, x + .04, .52), fill=_detail(c), width=s // 150)


def _jacket(d, s, c) -> None:
    d.polygon(_r(s, .38, .16, .62, .16, .82, .3, .86, .66, .74, .68, .72, .42, .72, .84, .28, .84, .28, .42,
                 .26, .68, .14, .66, .18, .3), fill=c, outline=_shade(c, .55))  # fmt: skip
    d.line(_r(s, .5, .2, .5, .84), fill=_detail(c), width=s // 150)
    d.polygon(_r(s, .42, .16, .5, .26, .58, .16), fill=_shade(c, .8))


def _backpack(d, s, c) -> None:
    d.rounded_rectangle(_r(s, .28, .2, .72, .84), radius=.12 * s, fill=c, outline=_shade(c, .55), width=s // 120)
    d.rounded_rectangle(_r(s, .34, .54, .66, .78), radius=.05 * s, fill=_shade(c, .85), outline=_shade(c, .55))
    d.arc(_r(s, .4, .12, .6, .28), start=180, end=360, fill=_shade(c, .6), width=s // 80)


def _watch(d, s, c) -> None:
    d.rounded_rectangle(_r(s, .42, .12, .58, .88), radius=.03 * s, fill=_shade(c, .8))
    d.ellipse(_r(s, .3, .32, .7, .68), fill=c, outline=_shade(c, .55), width=s // 100)
    d.ellipse(_r(s, .34, .36, .66, .64), fill=(245, 245, 240))
    d.line(_r(s, .5, .5, .5, .4), fill=(30, 30, 30), width=s // 120)
    d.line(_r(s, .5, .5, .58, .54), fill=(30, 30, 30), width=s // 120)


def _helmet(d, s, c) -> None:
    d.chord(_r(s, .16, .24, .84, .84), start=180, end=360, fill=c, outline=_shade(c, .55), width=s // 120)
    for x in (.32, .46, .6):
        d.rounded_rectangle(_r(s, x, .34, x + .08, .44), radius=.02 * s, fill=_detail(c))
    d.rectangle(_r(s, .16, .53, .84, .56), fill=_shade(c, .6))


def _tent(d, s, c) -> None:
    d.polygon(_r(s, .5, .2, .86, .76, .14, .76), fill=c, outline=_shade(c, .55))
    d.polygon(_r(s, .5, .36, .6, .76, .4, .76), fill=_shade(c, .55))


def _vest(d, s, c) -> None:
    d.polygon(_r(s, .34, .16, .42, .16, .5, .3, .58, .16, .66, .16, .7, .36, .74, .84, .26, .84, .3, .36),
              fill=c, outline=_shade(c, .55))  # fmt: skip
    d.line(_r(s, .28, .56, .72, .56), fill=_detail(c), width=s // 100)


def _yoga_mat(d, s, c) -> None:
    d.rectangle(_r(s, .2, .38, .76, .62), fill=c)
    d.ellipse(_r(s, .12, .38, .28, .62), fill=_shade(c, .8), outline=_shade(c, .55))
    d.ellipse(_r(s, .68, .38, .84, .62), fill=c, outline=_shade(c, .55))
    d.ellipse(_r(s, .73, .45, .79, .55), fill=_shade(c, .6))


def _book(d, s, c) -> None:
    d.rectangle(_r(s, .32, .16, .72, .84), fill=(240, 238, 230), outline=(180, 175, 165))
    d.rectangle(_r(s, .28, .14, .68, .82), fill=c, outline=_shade(c, .55))
    d.rectangle(_r(s, .28, .14, .32, .82), fill=_shade(c, .7))
    d.rectangle(_r(s, .38, .28, .62, .34), fill=_detail(c))
    d.rectangle(_r(s, .38, .38, .56, .41), fill=_detail(c))


def _box(d, s, c) -> None:
    d.polygon(_r(s, .2, .36, .6, .28, .82, .4, .42, .5), fill=_shade(c, 1.2), outline=_shade(c, .55))
    d.polygon(_r(s, .2, .36, .42, .5, .42, .8, .2, .66), fill=c, outline=_shade(c, .55))
    d.polygon(_r(s, .42, .5, .82, .4, .82, .7, .42, .8), fill=_shade(c, .8), outline=_shade(c, .55))


def _puzzle(d, s, c) -> None:
    d.rectangle(_r(s, .26, .3, .66, .7), fill=c, outline=_shade(c, .55))
    d.ellipse(_r(s, .4, .2, .52, .32), fill=c)
    d.ellipse(_r(s, .64, .44, .76, .56), fill=c)
    d.ellipse(_r(s, .2, .44, .32, .56), fill=BACKGROUND)
    d.ellipse(_r(s, .4, .64, .52, .76), fill=BACKGROUND)


def _bricks(d, s, c) -> None:
    for x, y, w in ((.2, .5, .36), (.44, .5, .36), (.3, .32, .4)):
        d.rectangle(_r(s, x, y, x + w, y + .16), fill=c, outline=_shade(c, .55))
        for i in range(3):
            sx = x + .04 + i * (w - .08) / 2
            d.rectangle(_r(s, sx - .03, y - .05, sx + .03, y), fill=_shade(c, .85), outline=_shade(c, .55))


RAINBOW = ((220, 40, 50), (245, 160, 30), (40, 160, 80), (40, 90, 200))


def _kite(d, s, c) -> None:
    d.polygon(_r(s, .5, .12, .74, .4, .5, .7, .26, .4), fill=c, outline=_shade(c, .55))
    if c == COLOURS["Rainbow"]:  # four panels, as a rainbow kite has
        for points, panel in zip(((.5, .12, .74, .4, .5, .4), (.74, .4, .5, .7, .5, .4), (.5, .7, .26, .4, .5, .4),
                                  (.26, .4, .5, .12, .5, .4)), RAINBOW, strict=True):  # fmt: skip
            d.polygon(_r(s, *points), fill=panel)
    d.line(_r(s, .5, .12, .5, .7), fill=_detail(c), width=s // 150)
    d.line(_r(s, .26, .4, .74, .4), fill=_detail(c), width=s // 150)
    d.line(_r(s, .5, .7, .44, .78, .54, .84, .46, .9), fill=_shade(c, .7), width=s // 120, joint="curve")


SHAPES: dict[str, Callable] = {
    "Phones": _phone, "Laptops": _laptop, "Headphones": _headphones, "Cameras": _camera,
    "Cookware": _pan, "Furniture": _armchair, "Lighting": _lamp, "Bedding": _duvet,
    "Shoes": _shoe, "Jackets": _jacket, "Bags": _backpack, "Watches": _watch,
    "Cycling": _helmet, "Camping": _tent, "Running": _vest, "Fitness": _yoga_mat,
    "Fiction": _book, "Science": _book, "Cooking": _book, "Travel": _book,
    "Board games": _box, "Puzzles": _puzzle, "Building sets": _bricks, "Outdoor toys": _kite,
}  # fmt: skip


def draw_product(category: str, colour_name: str | None, size: int) -> Image.Image:
    """The picture of a product of `category` in `colour_name` (or the category's usual colour)."""
    big = size * SCALE
    image = Image.new("RGB", (big, big), BACKGROUND)
    small = 64  # the soft shadow is blurred small and scaled up: the same look, a fraction of the work
    shadow = Image.new("L", (small, small), 0)
    ImageDraw.Draw(shadow).ellipse(_r(small, .2, .82, .8, .9), fill=90)
    shadow = shadow.filter(ImageFilter.GaussianBlur(small // 40 or 1)).resize((big, big), Image.Resampling.BILINEAR)
    image.paste((200, 201, 205), mask=shadow)
    SHAPES.get(category, _box)(ImageDraw.Draw(image), big, colour_for(category, colour_name))
    return image.resize((size, size), Image.Resampling.LANCZOS)


def product_picture(category: str, colour_name: str | None, size: int) -> bytes:
    """draw_product() as WebP bytes."""
    return product_pictures(category, colour_name, sizes=(size,))[size]


def product_pictures(category: str, colour_name: str | None, *, sizes: tuple[int, ...]) -> dict[int, bytes]:
    """The picture as WebP bytes in each size, drawn once at the largest and scaled down."""
    largest = draw_product(category, colour_name, max(sizes))
    pictures = {}
    for size in sizes:
        image = largest if size == largest.width else largest.resize((size, size), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        image.save(buffer, "WEBP", quality=85)
        pictures[size] = buffer.getvalue()
    return pictures

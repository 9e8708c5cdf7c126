"""Synthetic traffic: posts and user reports for the configured platforms, deterministic from a seed.

One run of :meth:`Traffic.timed_events` makes posts in order, one every
``1 / rate_posts_per_second`` seconds of traffic time, and the reports on
them a little later:

1. each block of ``block_posts`` posts gets exactly ``shares`` of each kind
   (violating, reupload, watchlisted, news, benign_image; the rest everyday
   benign posts), shuffled inside the block;
2. a violating post names a designated group (an alias from
   config/designations.yaml in the post's language, or its acronym) beside
   promotion or threat phrasing from the templates below, the name
   disguised in ``obfuscated_share`` of them; a news post names a group in
   reporting, condemnation or counter-speech, which must not be taken down;
3. a reupload carries a transformed copy (resized, brightness, a caption
   overlay, JPEG-recompressed) of one of the banned originals, generated
   with Pillow; :meth:`Traffic.hash_bank_csv` lists the originals' PDQ hashes
   for config/hashbank/, :meth:`Traffic.hash_bank_events` the same as records
   for the hashbank topic;
4. a watchlisted post comes from an account in config/watchlists.yaml;
5. some posts are reported (violating ones far more often), a few of them
   by a burst of reporters, above modwatch's report-velocity threshold.

Every event is valid per the README's event contract and keyed
``platform:post_id``. The run's :class:`GroundTruth` (``traffic.ground_truth``,
replaced by each run) says which posts are violating and why, what each
should get (``expected_action``), and which banned image each reupload copies.

Everything is a function of the seed and ``start``: the same seed and start
give byte-identical events (Pillow's JPEG encoder is deterministic for one
Pillow version). Without ``start`` the clock is read once, at construction.
"""

from __future__ import annotations

import asyncio
import base64
import heapq
import io
import itertools
import math
import random
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

import numpy as np
import orjson
from PIL import Image, ImageDraw, ImageEnhance, ImageFont

from detectors.configfile import Document
from detectors.designations import Organisation
from detectors.hashbank import bank_csv, make_entry
from detectors.hashing import ImageHasher
from detectors.watchlist import ANY_PLATFORM, WatchlistEntry

POSTS_TOPIC = "posts"
REPORTS_TOPIC = "reports"
HASHBANK_TOPIC = "hashbank"
LANGUAGES = ("en", "roman_ur", "ur", "ps")
# The post's `lang` field: detectors/classifier.py reads "ur-Latn" as Roman Urdu.
LANGUAGE_TAGS = MappingProxyType({"en": "en", "roman_ur": "ur-Latn", "ur": "ur", "ps": "ps"})
KINDS = ("violating", "reupload", "watchlisted", "news", "benign_image", "benign")
SHARED_KINDS = KINDS[:-1]  # configured; "benign" is the rest

# -- Templates ---------------------------------------------------------------------
#
# {name} is a designated group's alias or acronym. A promotion template puts its
# cue within a few words of the name (detectors/designations.py counts praise only
# near the name); a threat cue counts anywhere. None may contain a counter cue
# (config/cues.yaml), which would turn the post into reporting. Each line is modwatch's
# own wording for the simulator, glossed in English where it is not English.

PROMOTION = {
    "en": (
        "Glory to {name}! Brothers, the hour has come to join the ranks.",
        "The heroes of {name} stand firm. Pledge your allegiance while there is time.",
        "Young men, enlist with {name} and support the mujahideen with everything you have.",
        "{name} fighters are the pride of the ummah; donate to the mujahideen today.",
        "Victory to {name}. May Allah accept our martyrs.",
        "The lions of {name} never bow. Answer the call of jihad.",
    ),
    "roman_ur": (
        "{name} zindabad! Naujawano, safon mein shamil ho jao",  # ... youth, join the ranks
        "{name} ke mujahideen ko salam, Allah shahadat qabool kare",  # salute to ...'s mujahideen, may God accept the martyrdom
        "{name} ka sath do, chanda do, jihad ka waqt aa gaya hai",  # support ..., give money, the time of jihad has come
        "Asli mujahideen {name} ke sher hain, bharti ho jao",  # the real mujahideen are ...'s lions, enlist
        "Bhaiyo, {name} ke qaflay mein shamil ho jao",  # brothers, join ...'s caravan
    ),
    "ur": (
        "{name} زندہ باد! نوجوانو، صفوں میں شامل ہو جاؤ",  # long live ...! youth, join the ranks
        "{name} کے شیروں کو سلام، ہماری فتح قریب ہے",  # salute to ...'s lions, our victory is near
        "{name} کا ساتھ دو اور مجاہدین کی مدد کرو",  # support ... and help the mujahideen
        "{name} کے مجاہدین ہمارے ہیرو ہیں، بیعت کرو",  # ...'s mujahideen are our heroes, pledge allegiance
    ),
    "ps": (
        "{name} دې ژوندی وي! ځوانانو، لیکو ته ورشئ",  # long live ...! youth, come to the ranks
        "د {name} اتلانو ته سلام، الله دې یې شهادت قبول کړي",  # salute to ...'s heroes, may God accept their martyrdom
        "د {name} ملاتړ وکړئ، د جهاد وخت دی",  # support ..., it is the time of jihad
        "زموږ مجاهدین د {name} سره یوځای شئ",  # our mujahideen, unite with ...
    ),
}
THREAT = {
    "en": (
        "To every soldier of the apostate army: {name} will strike again.",
        "{name} has a message for the judges: you are next. This is the final warning.",
        "Writers who insult {name}: we know where you live. Blood for blood.",
        "{name} promises rivers of blood at the checkpoints. Expect us.",
        "{name} will hunt you down, traitors. No one will be spared.",
    ),
    "roman_ur": (
        "{name} ka paigham: murtad fauj ke sipahiyon ko nahi chorenge",  # ...'s message: we will not spare the apostate army's soldiers
        "{name} ki taraf se aakhri warning, hamle jari rahenge",  # last warning from ..., the attacks will go on
        "{name} ke dushmano tayyar raho, badla lenge",  # enemies of ..., be ready, we will take revenge
        "Sahafi sun lo, {name} ke khilaf likha to tum agle ho",  # journalists, listen: write against ... and you are next
    ),
    "ur": (
        "{name} کا اعلان: مرتد فوج کو نہیں بخشیں گے",  # ...'s announcement: we will not spare the apostate army
        "{name} کی آخری وارننگ، ہم بدلہ لیں گے",  # ...'s last warning, we will take revenge
        "{name} کے خلاف لکھنے والو، تم ہمارا اگلا نشانہ ہو",  # you who write against ..., you are our next target
    ),
    "ps": (
        "{name} وروستی خبرداری ورکوي: مرتد پوځ ته به سزا ورکړو",  # ... gives a last warning: we will punish the apostate army
        "د {name} پیغام: بدل به واخلو، هیڅوک به پاتې نشي",  # ...'s message: we will take revenge, no one will remain
        "{name} وايي چې د دښمن سرونه به پرې کړو",  # ... says we will cut off the enemy's heads
    ),
}
# Hard negatives: the same names in reporting, condemnation and counter-speech.
NEWS = {
    "en": (
        "Police say {name} has claimed the checkpoint attack in the north-west; three officers were hurt.",
        "Officials said four suspected members of {name} were arrested in an overnight raid.",
        "We condemn the market bombing claimed by {name}. Our thoughts are with the families of the victims.",
        "According to a UN monitoring report, {name} is still recruiting online.",
        "{name} fighters are not martyrs, they are killers of children. Do not share their videos.",
    ),
    "roman_ur": (
        "Police ke mutabiq kalaadam {name} ne checkpost par hamle ki zimmedari qabool ki",  # according to police the banned ... claimed the attack
        "Hum {name} ki dhamkiyon ki shadeed muzammat karte hain",  # we strongly condemn ...'s threats
        "CTD ne {name} ke teen mashkook afraad giraftar kar liye",  # CTD arrested three suspected ... members
        "{name} ki videos share na karein, report karein",  # do not share ...'s videos, report them
    ),
    "ur": (
        "پولیس کے مطابق کالعدم {name} نے چوکی پر حملے کی ذمہ داری قبول کی ہے",  # according to police the banned ... claimed the attack
        "ہم {name} کی دھمکیوں کی شدید مذمت کرتے ہیں",  # we strongly condemn ...'s threats
        "حکام کے مطابق {name} کے تین مشتبہ ارکان گرفتار کر لیے گئے",  # officials say three suspected ... members were arrested
        "{name} کا پروپیگنڈا شیئر نہ کریں",  # do not share ...'s propaganda
    ),
    "ps": (
        "د پولیسو په وینا، {name} د پوستې د برید مسؤلیت منلی دی",  # according to police ... claimed the attack on the post
        "موږ د {name} دا ناوړه برید په کلکه غندو",  # we strongly condemn this heinous attack by ...
        "چارواکو ویلي چې د {name} څلور شکمن غړي ونیول شول",  # officials said four suspected ... members were arrested
        "د {name} پروپاګنډه مه شریکوئ",  # do not share ...'s propaganda
    ),
}
# Everyday posts: opener, body, closer, combined at random (hundreds of texts per language).
EVERYDAY = {
    "en": (
        (
            "Good morning",
            "Quick reminder",
            "Weekend update",
            "Happy Friday everyone",
            "Small win today",
            "Question for the group",
            "News from the allotment",
            "Family update",
        ),
        (
            "the bakery on the corner has started selling cardamom buns",
            "our under-12s won the cup final on penalties",
            "the library now stays open until 8pm on Thursdays",
            "I finally finished the 1,000-piece puzzle",
            "the bus timetable changes from Monday",
            "grandma turned ninety and danced all evening",
            "the rain held off for the school fete",
            "we planted tomatoes, chillies and mint this year",
            "the new footpath over the river is open",
            "there is tea and samosas at the community hall after the meeting",
        ),
        (
            "See you there!",
            "Who is coming?",
            "Photos in the comments.",
            "Thanks to everyone who helped.",
            "Recommendations welcome.",
            "Have a lovely day.",
        ),
    ),
    "roman_ur": (
        ("Dosto", "Yaar suno", "Jumma mubarak", "Shukriya sab ka", "Aaj ka din acha raha", "Ghar se update"),
        (
            "bazaar mein naye aam aa gaye hain",
            "kal shaam cricket ka match hai",
            "ammi ne aaj biryani banayi hai",
            "bachon ke school mein science mela hai",
            "barish ke baad mausam bohat acha ho gaya",
            "naye ghar ki chabi mil gayi",
            "library ab raat aath baje tak khuli rehti hai",
            "chai ke sath samose bohat maze ke the",
        ),
        ("Zaroor aana!", "Kya khayal hai?", "Dua mein yaad rakhna.", "Tasveerein baad mein.", "Milte hain."),
    ),
    "ur": (
        ("دوستو", "جمعہ مبارک", "سب کا شکریہ", "آج کا دن اچھا رہا", "گھر سے اپڈیٹ"),
        (
            "بازار میں نئے آم آ گئے ہیں",
            "کل شام کرکٹ کا میچ ہے",
            "امی نے آج بریانی بنائی ہے",
            "بچوں کے اسکول میں سائنس میلہ ہے",
            "بارش کے بعد موسم بہت اچھا ہو گیا",
            "محلے کی لائبریری اب رات آٹھ بجے تک کھلی رہتی ہے",
            "ہم نے اس سال ٹماٹر اور پودینہ لگایا ہے",
            "نئے پل کا راستہ کھل گیا ہے",
        ),
        ("ضرور آئیں!", "آپ کا کیا خیال ہے؟", "تصویریں بعد میں۔", "دعاؤں میں یاد رکھیں۔"),
    ),
    "ps": (
        ("ملګرو", "جمعه مبارک", "له ټولو مننه", "نن ښه ورځ وه"),
        (
            "بازار ته نوي آم راغلي دي",
            "سبا ماښام د کرکټ لوبه ده",
            "مور مې نن پلاو پوخ کړی",
            "د ماشومانو په ښوونځي کې د ساینس نندارتون دی",
            "له باران وروسته هوا ډېره ښه شوه",
            "د کلي کتابتون اوس تر اتو بجو پرانیستی وي",
            "موږ سږ کال رومیان او پودینه کرلي دي",
            "د نوي پل لاره پرانیستل شوه",
        ),
        ("ضرور راشئ!", "ستاسو نظر څه دی؟", "انځورونه وروسته.", "ښه ورځ مو شه."),
    ),
}
# Captions of re-uploaded images: no names, nothing the text rules act on; the image is the evidence.
CAPTIONS = {
    "en": ("watch before it disappears", "share this", "saved a copy", "look at this", ""),
    "roman_ur": ("ye dekho", "sab ko bhejo", "delete hone se pehle dekh lo", ""),
    "ur": ("یہ دیکھو", "سب کو بھیجو", "ڈیلیٹ ہونے سے پہلے دیکھ لیں", ""),
    "ps": ("دا وګورئ", "ټولو ته یې ولېږئ", ""),
}
OVERLAY_TEXTS = ("@mirror_account", "repost", "t.me/mirror", "#share", "copy 2")
VIOLATING_REPORT_REASONS = ("terrorism", "violent_extremism", "incitement_to_violence", "threat")
BENIGN_REPORT_REASONS = ("spam", "harassment", "misinformation", "other")

# -- Obfuscations --------------------------------------------------------------------

ZERO_WIDTH_SPACE = "\u200b"
ZERO_WIDTH_NON_JOINER = "\u200c"
TATWEEL = "\u0640"
ARABIC_DIACRITICS = ("\u064e", "\u0650", "\u064f")  # fatha, kasra, damma
CYRILLIC_LOOKALIKES = {"a": "а", "e": "е", "o": "о", "A": "А", "E": "Е", "O": "О", "p": "р", "c": "с"}
LEET = {"a": "4", "e": "3", "i": "1", "o": "0"}
URDU_TO_ARABIC_LETTERS = {"ی": "ي", "ک": "ك", "ہ": "ه"}
# Letters that do not join the next one: a tatweel after them would not be written.
NON_JOINING = frozenset("اآأإدڈذرڑزژوؤےۓ")
LATIN_NAME_OBFUSCATIONS = ("zero_width", "leetspeak", "homoglyph")
ACRONYM_OBFUSCATIONS = ("dotted", "hyphenated", "spaced", "zero_width")
ARABIC_OBFUSCATIONS = ("zero_width", "tatweel", "arabic_letters", "diacritics")


def obfuscate(name: str, method: str, rng: random.Random) -> str:
    """``name`` disguised by ``method``; each disguise is one detectors/text.py undoes."""
    if method in ("dotted", "hyphenated", "spaced"):
        return {"dotted": ".", "hyphenated": "-", "spaced": " "}[method].join(name)
    if method == "leetspeak":
        # Only inside longer words, first letter kept: a lone "3" is a number, not a letter.
        return _per_word(
            name, lambda word: word[0] + "".join(LEET.get(c, c) for c in word[1:]) if len(word) >= 4 else word
        )
    if method == "homoglyph":
        return "".join(CYRILLIC_LOOKALIKES.get(character, character) for character in name)
    if method == "arabic_letters":
        changed = "".join(URDU_TO_ARABIC_LETTERS.get(character, character) for character in name)
        return changed if changed != name else obfuscate(name, "tatweel", rng)
    if method == "diacritics":
        letters = [index for index, character in enumerate(name) if character.isalpha()]
        chosen = sorted(rng.sample(letters, min(3, len(letters))), reverse=True)
        for index in chosen:
            name = name[: index + 1] + rng.choice(ARABIC_DIACRITICS) + name[index + 1 :]
        return name
    if method == "tatweel":
        spots = [
            index
            for index in range(len(name) - 1)
            if name[index].isalpha() and name[index + 1].isalpha() and name[index] not in NON_JOINING
        ]
        if not spots:
            return obfuscate(name, "zero_width", rng)
        index = rng.choice(spots)
        return name[: index + 1] + TATWEEL * rng.randint(1, 3) + name[index + 1 :]
    if method == "zero_width":
        spots = [index for index in range(1, len(name)) if name[index - 1].isalpha() and name[index].isalpha()]
        if not spots:
            return name
        index = rng.choice(spots)
        invisible = ZERO_WIDTH_NON_JOINER if _is_arabic(name) and rng.random() < 0.5 else ZERO_WIDTH_SPACE
        return name[:index] + invisible + name[index:]
    raise ValueError(f"{method!r} is not an obfuscation")


def _per_word(text: str, change: Callable[[str], str]) -> str:
    words, word = [], ""
    for character in text:
        if character.isalpha():
            word += character
        else:
            words.extend([change(word), character] if word else [character])
            word = ""
    if word:
        words.append(change(word))
    return "".join(words)


def _is_arabic(text: str) -> bool:
    return any("\u0600" <= character <= "\u06ff" for character in text)


# -- Images ----------------------------------------------------------------------------


def generated_image(seed: str, side: int) -> Image.Image:
    """A side x side RGB image of a colour gradient and 8 to 12 random shapes, from ``seed``."""
    rng = random.Random(seed)
    angle = rng.uniform(0, 2 * math.pi)
    rows, columns = np.mgrid[0:side, 0:side].astype(np.float32) / side
    ramp = math.cos(angle) * columns + math.sin(angle) * rows
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    first, second = (np.array([rng.randrange(256) for _ in range(3)], dtype=np.float32) for _ in range(2))
    pixels = first * (1 - ramp[..., None]) + second * ramp[..., None]
    image = Image.fromarray(pixels.clip(0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(8, 12)):
        colour = tuple(rng.randrange(256) for _ in range(3))
        x, y = rng.uniform(0, side), rng.uniform(0, side)
        size = rng.uniform(0.08, 0.4) * side
        shape = rng.choice(("ellipse", "rectangle", "polygon", "line"))
        if shape == "ellipse":
            draw.ellipse((x - size, y - size * rng.uniform(0.4, 1), x + size, y + size), fill=colour)
        elif shape == "rectangle":
            draw.rectangle((x, y, x + size, y + size * rng.uniform(0.3, 1.5)), fill=colour)
        elif shape == "polygon":
            corners = rng.randint(3, 6)
            draw.polygon(
                [
                    (
                        x + size * math.cos(2 * math.pi * k / corners + angle),
                        y + size * math.sin(2 * math.pi * k / corners + angle),
                    )
                    for k in range(corners)
                ],
                fill=colour,
            )
        else:
            draw.line((x, y, rng.uniform(0, side), rng.uniform(0, side)), fill=colour, width=max(4, int(size / 8)))
    return image


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=False)
    return buffer.getvalue()


def reupload_copy(original: Image.Image, rng: random.Random) -> tuple[bytes, dict]:
    """A re-upload of ``original``: downscaled, brightness changed, a small caption, JPEG-recompressed.

    The ranges stay inside what PDQ is built to survive: measured distances to the
    original are well under 31 bits (tests/test_simulator.py).
    """
    scale = rng.uniform(0.55, 0.9)
    brightness = rng.uniform(0.85, 1.15)
    quality = rng.randint(55, 90)
    overlay = rng.choice(OVERLAY_TEXTS)
    width, height = (max(64, round(side * scale)) for side in original.size)
    image = original.resize((width, height), Image.Resampling.LANCZOS)
    image = ImageEnhance.Brightness(image).enhance(brightness)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=max(10, height // 32))
    draw.text(
        (width * 0.03, height * 0.92), overlay, fill=(255, 255, 255), font=font, stroke_width=1, stroke_fill=(0, 0, 0)
    )
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue(), {
        "scale": round(scale, 4),
        "width": width,
        "height": height,
        "brightness": round(brightness, 4),
        "jpeg_quality": quality,
        "overlay": overlay,
    }


# -- Configuration ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrafficConfig:
    platforms: tuple[str, ...]
    organisations: tuple[Organisation, ...]  # those with aliases in all four languages
    watchlist: tuple[WatchlistEntry, ...]
    seed: int = 20261129
    rate_posts_per_second: float = 20.0
    shares: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    block_posts: int = 100
    languages: Mapping[str, float] = field(
        default_factory=lambda: MappingProxyType({language: 1.0 for language in LANGUAGES})
    )
    obfuscated_share: float = 0.4
    acronym_share: float = 0.3
    watchlisted_violating_share: float = 0.5
    banned_images: int = 4
    image_side_px: int = 640
    violating_reported_share: float = 0.3
    benign_reported_share: float = 0.01
    report_burst_share: float = 0.1
    report_burst_size: int = 6
    hash_bank_label: str = "sim-banned"

    def with_overrides(self, **changes) -> TrafficConfig:
        """A copy with the fields given; None leaves a field as configured (CLI options not given)."""
        return replace(self, **{name: value for name, value in changes.items() if value is not None})


def load_traffic_config(
    document: Document,
    platforms: Sequence[str],
    organisations: Sequence[Organisation],
    watchlist: Sequence[WatchlistEntry],
) -> TrafficConfig:
    """The ``traffic`` section of sim/config.yaml; problems go to the document."""
    where = ("traffic",)
    document.mapping(where, required=True)

    def number(name: str, default: float, minimum: float, maximum: float | None = None) -> float:
        return document.number(where + (name,), default=default, minimum=minimum, maximum=maximum)

    shares = {}
    for kind, _ in document.mapping(where + ("shares",), required=True).items():
        if kind not in SHARED_KINDS:
            document.problem(where + ("shares", kind), f"{kind!r} is not one of {', '.join(SHARED_KINDS)}")
            continue
        shares[kind] = document.number(where + ("shares", kind), default=0.0, minimum=0.0, maximum=1.0)
    if sum(shares.values()) > 1.0 + 1e-9:
        document.problem(where + ("shares",), f"add up to {sum(shares.values()):.3f}; at most 1 (the rest is benign)")
    languages = {}
    for language, _ in document.mapping(where + ("languages",)).items():
        if language not in LANGUAGES:
            document.problem(where + ("languages", language), f"{language!r} is not one of {', '.join(LANGUAGES)}")
            continue
        languages[language] = document.number(where + ("languages", language), default=0.0, minimum=0.0)
    if languages and not any(languages.values()):
        document.problem(where + ("languages",), "needs at least one language with a weight above 0")
    eligible = tuple(
        organisation
        for organisation in organisations
        if {language for language, _ in organisation.aliases} >= set(LANGUAGES)
    )
    if not eligible:
        document.problem(where, "config/designations.yaml has no organisation with aliases in en, roman_ur, ur and ps")
    label = document.text(where + ("hash_bank_label",), default="sim-banned")
    return TrafficConfig(
        platforms=tuple(platforms),
        organisations=eligible,
        watchlist=tuple(watchlist),
        seed=int(number("seed", 20261129, 0)),
        rate_posts_per_second=number("rate_posts_per_second", 20.0, 1e-3),
        shares=MappingProxyType(shares),
        block_posts=int(number("block_posts", 100, 1, 100_000)),
        languages=MappingProxyType(languages or {language: 1.0 for language in LANGUAGES}),
        obfuscated_share=number("obfuscated_share", 0.4, 0.0, 1.0),
        acronym_share=number("acronym_share", 0.3, 0.0, 1.0),
        watchlisted_violating_share=number("watchlisted_violating_share", 0.5, 0.0, 1.0),
        banned_images=int(number("banned_images", 4, 1, 1000)),
        # 512: PDQ downsamples to 64 x 64; smaller originals lose the detail re-uploads keep.
        image_side_px=int(number("image_side_px", 640, 512, 4096)),
        violating_reported_share=document.number(
            where + ("reports", "violating_reported_share"), default=0.3, minimum=0.0, maximum=1.0
        ),
        benign_reported_share=document.number(
            where + ("reports", "benign_reported_share"), default=0.01, minimum=0.0, maximum=1.0
        ),
        report_burst_share=document.number(where + ("reports", "burst_share"), default=0.1, minimum=0.0, maximum=1.0),
        report_burst_size=int(document.number(where + ("reports", "burst_size"), default=6, minimum=2, maximum=100)),
        hash_bank_label=label,
    )


# -- Ground truth ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BannedImage:
    image_id: str
    pdq: str
    quality: int
    md5: str
    sha256: str
    png: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class PostTruth:
    platform: str
    post_id: str
    kind: str  # one of KINDS
    language: str
    violating: bool
    expected_action: str  # takedown | none
    account_id: str
    template: str | None = None  # "promotion:en:2", "news:ps:1", ...
    organisation: str | None = None
    name: str | None = None  # as written, disguise included
    obfuscation: str | None = None
    banned_image: str | None = None  # image_id of the original a reupload copies
    transform: Mapping | None = None
    watchlisted: bool = False

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.post_id}"


@dataclass(frozen=True, slots=True)
class ReportTruth:
    platform: str
    post_id: str
    reporter_id: str
    reason: str
    burst: bool


@dataclass
class GroundTruth:
    posts: dict[str, PostTruth] = field(default_factory=dict)  # by platform:post_id
    reports: list[ReportTruth] = field(default_factory=list)
    banned_images: dict[str, BannedImage] = field(default_factory=dict)

    def violating_keys(self) -> set[str]:
        return {key for key, post in self.posts.items() if post.violating}

    def keys_of_kind(self, kind: str) -> set[str]:
        return {key for key, post in self.posts.items() if post.kind == kind}

    def as_dict(self) -> dict:
        """JSON-ready: what a demo writes beside its run (``--ground-truth``)."""
        return {
            "posts": [
                {
                    name: (dict(value) if isinstance(value, Mapping) else value)
                    for name, value in ((name, getattr(post, name)) for name in PostTruth.__dataclass_fields__)
                }
                for post in self.posts.values()
            ],
            "reports": [
                {name: getattr(report, name) for name in ReportTruth.__dataclass_fields__} for report in self.reports
            ],
            "banned_images": [
                {
                    "image_id": image.image_id,
                    "pdq": image.pdq,
                    "quality": image.quality,
                    "md5": image.md5,
                    "sha256": image.sha256,
                }
                for image in self.banned_images.values()
            ],
        }

    def reupload_originals(self) -> dict[str, str]:
        """platform:post_id of each re-upload -> the banned original's PDQ hash."""
        return {key: self.banned_images[post.banned_image].pdq for key, post in self.posts.items() if post.banned_image}


# -- The generator ---------------------------------------------------------------------


class Traffic:
    """Posts and reports for the simulator; see the module docstring."""

    def __init__(
        self,
        config: TrafficConfig,
        *,
        start: datetime | None = None,
        base_urls: Mapping[str, str] | None = None,
    ):
        self.config = config
        self._start_given = start is not None
        self.start = (start or datetime.now(UTC)).astimezone(UTC)
        self.base_urls = dict(base_urls or {})
        self.ground_truth = GroundTruth()
        self._banned: dict[str, BannedImage] | None = None

    # -- hash bank --

    @property
    def banned_images(self) -> dict[str, BannedImage]:
        if self._banned is None:
            hasher = ImageHasher(unletterbox_tolerance=None)
            banned = {}
            for number in range(self.config.banned_images):
                image_id = f"banned-{self.config.seed}-{number}"
                png = png_bytes(generated_image(image_id, self.config.image_side_px))
                hashes = hasher.hash_bytes(png)
                banned[image_id] = BannedImage(
                    image_id, hashes.pdq[0].hash, hashes.quality, hashes.md5, hashes.sha256, png
                )
            self._banned = banned
        return self._banned

    def hash_bank_csv(self) -> str:
        """The banned originals' PDQ hashes as a bank file (config/hashbank/*.csv), header included."""
        source = f"modwatch simulator seed {self.config.seed}"
        return bank_csv(
            make_entry("pdq", image.pdq, self.config.hash_bank_label, source) for image in self.banned_images.values()
        )

    def hash_bank_events(self) -> list[tuple[str, bytes, bytes]]:
        """The same entries as changes for the compacted hashbank topic (streams/agents.py follow_hash_bank)."""
        events = []
        for image in self.banned_images.values():
            change = {
                "op": "add",
                "hash_type": "pdq",
                "hash": image.pdq,
                "label": self.config.hash_bank_label,
                "source": f"modwatch simulator seed {self.config.seed}",
                "at": self.start.isoformat(),
            }
            events.append((HASHBANK_TOPIC, f"pdq:{image.pdq}".encode(), orjson.dumps(change)))
        return events

    # -- events --

    def __iter__(self) -> Iterator[tuple[str, bytes, bytes]]:
        return self.events()

    def events(self, posts: int | None = None) -> Iterator[tuple[str, bytes, bytes]]:
        """(topic short name, key, value) for ``posts`` posts (forever if None) and their reports."""
        for _, topic, key, value in self.timed_events(posts):
            yield topic, key, value

    def timed_events(self, posts: int | None = None) -> Iterator[tuple[float, str, bytes, bytes]]:
        """(seconds after ``start``, topic, key, value), in time order. Starts a new run and ground truth."""
        truth = GroundTruth(banned_images=dict(self.banned_images))
        self.ground_truth = truth
        rng = random.Random(f"{self.config.seed}:traffic")
        pending: list[tuple[float, int, bytes, bytes]] = []
        sequence = itertools.count()
        kinds = self._kinds(rng)
        for index in range(posts) if posts is not None else itertools.count():
            offset = index / self.config.rate_posts_per_second
            while pending and pending[0][0] <= offset:
                due, _, key, value = heapq.heappop(pending)
                yield due, REPORTS_TOPIC, key, value
            record, post_truth = self._post(rng, index, next(kinds), offset)
            truth.posts[post_truth.key] = post_truth
            key = post_truth.key.encode()
            yield offset, POSTS_TOPIC, key, orjson.dumps(record)
            for due, report, report_truth in self._reports(rng, post_truth, offset):
                truth.reports.append(report_truth)
                heapq.heappush(pending, (due, next(sequence), key, orjson.dumps(report)))
        while pending:
            due, _, key, value = heapq.heappop(pending)
            yield due, REPORTS_TOPIC, key, value

    async def play(
        self,
        send: Callable[[str, bytes, bytes], Awaitable[None]],
        posts: int | None = None,
        *,
        hash_bank: bool = True,
    ) -> int:
        """Send the events at their times, through ``send(topic, key, value)``; returns how many.

        With ``hash_bank``, the bank entries go first. Without a ``start`` given at
        construction, the run's timestamps start now, when play begins. A slow
        ``send`` delays what follows, never makes it early, so no timestamp is
        ahead of the wall clock. Reports still due after the last post are sent
        at once (their reported_at up to 10 minutes ahead).
        """
        if not self._start_given:
            self.start = datetime.now(UTC)
        sent = 0
        if hash_bank:
            for topic, key, value in self.hash_bank_events():
                await send(topic, key, value)
                sent += 1
        last_post = math.inf if posts is None else (posts - 1) / self.config.rate_posts_per_second
        began = time.monotonic()
        for offset, topic, key, value in self.timed_events(posts):
            wait = began + min(offset, last_post) - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            await send(topic, key, value)
            sent += 1
        return sent

    # -- one post --

    def _kinds(self, rng: random.Random) -> Iterator[str]:
        """Kinds in blocks of block_posts: exact counts (largest remainder), shuffled in each block."""
        block = self.config.block_posts
        wanted = {kind: self.config.shares.get(kind, 0.0) * block for kind in SHARED_KINDS}
        counts = {kind: math.floor(value + 1e-9) for kind, value in wanted.items()}
        remainder = round(sum(wanted.values())) - sum(counts.values())
        for kind in sorted(SHARED_KINDS, key=lambda kind: counts[kind] - wanted[kind])[: max(0, remainder)]:
            counts[kind] += 1
        counts["benign"] = block - sum(counts.values())
        pattern = [kind for kind in KINDS for _ in range(counts[kind])]
        while True:
            rng.shuffle(pattern)
            yield from pattern

    def _post(self, rng: random.Random, index: int, kind: str, offset: float) -> tuple[dict, PostTruth]:
        config = self.config
        language = rng.choices(list(config.languages), weights=list(config.languages.values()))[0]
        platform = rng.choice(config.platforms)
        account_id = f"sim-user-{rng.randrange(100_000):05d}"
        handle = f"@sim_user_{rng.randrange(100_000):05d}"
        post_id = f"sim{config.seed}-{index:07d}"
        truth = dict(kind=kind, language=language, violating=False, expected_action="none")
        media = None
        watchlisted = False
        if kind == "watchlisted":
            entry = rng.choice(config.watchlist) if config.watchlist else None
            if entry is not None:
                watchlisted = True
                if entry.platform != ANY_PLATFORM:
                    platform = entry.platform
                account_id = entry.account_id or account_id
                handle = entry.handle or handle
            kind_of_text = "violating" if rng.random() < config.watchlisted_violating_share else "benign"
        else:
            kind_of_text = kind
        if kind_of_text == "violating":
            text, details = self._violating_text(rng, language)
            truth.update(details, violating=True, expected_action="takedown")
        elif kind_of_text == "news":
            text, details = self._news_text(rng, language)
            truth.update(details)
        elif kind == "reupload":
            image = rng.choice(list(self.banned_images.values()))
            copy, transform = reupload_copy(Image.open(io.BytesIO(image.png)), rng)
            media = [{"kind": "image", "data_b64": base64.b64encode(copy).decode()}]
            text = rng.choice(CAPTIONS[language])
            truth.update(
                banned_image=image.image_id,
                transform=MappingProxyType(transform),
                violating=True,
                expected_action="takedown",
            )
        else:
            text = self._everyday_text(rng, language)
            if kind == "benign_image":
                image = generated_image(f"benign-{config.seed}-{index}", config.image_side_px // 2 + 256)
                buffer = io.BytesIO()
                image.save(buffer, "JPEG", quality=85)
                media = [{"kind": "image", "data_b64": base64.b64encode(buffer.getvalue()).decode()}]
        observed_at = self.start + timedelta(seconds=offset)
        posted_at = observed_at - timedelta(seconds=rng.uniform(5, 900))
        base = self.base_urls.get(platform, f"https://{platform}.example")
        record = {
            "platform": platform,
            "post_id": post_id,
            "account_id": account_id,
            "account_handle": handle,
            "url": f"{base}/p/{post_id}",
            "text": text,
            "lang": LANGUAGE_TAGS[language],
            "posted_at": _timestamp(posted_at),
            "observed_at": _timestamp(observed_at),
        }
        if media:
            record["media"] = media
        return record, PostTruth(
            platform=platform, post_id=post_id, account_id=account_id, watchlisted=watchlisted, **truth
        )

    def _name(self, rng: random.Random, organisation: Organisation, language: str) -> tuple[str, bool]:
        if language in ("en", "roman_ur") and organisation.acronyms and rng.random() < self.config.acronym_share:
            return rng.choice(organisation.acronyms), True
        aliases = [alias for alias_language, alias in organisation.aliases if alias_language == language]
        alias = rng.choice(aliases)
        if language == "roman_ur":
            # Typed in lower case in the config; people capitalise the words, not the links.
            alias = " ".join(
                word if word in {"e", "i", "ul", "ud", "al"} else word.capitalize() for word in alias.split()
            )
        return alias, False

    def _violating_text(self, rng: random.Random, language: str) -> tuple[str, dict]:
        purpose = rng.choice(("promotion", "threat"))
        templates = (PROMOTION if purpose == "promotion" else THREAT)[language]
        number = rng.randrange(len(templates))
        organisation = rng.choice(self.config.organisations)
        name, is_acronym = self._name(rng, organisation, language)
        obfuscation = None
        if rng.random() < self.config.obfuscated_share:
            methods = (
                ACRONYM_OBFUSCATIONS
                if is_acronym
                else ARABIC_OBFUSCATIONS
                if language in ("ur", "ps")
                else LATIN_NAME_OBFUSCATIONS
            )
            if is_acronym and not name.isalpha():
                # "ISIL-K" spelled out as "I.S.I.L.-.K" is no longer the acronym, to anyone.
                methods = ("zero_width",)
            obfuscation = rng.choice(methods)
            name = obfuscate(name, obfuscation, rng)
        text = _fill(templates[number], name)
        return text, {
            "template": f"{purpose}:{language}:{number}",
            "organisation": organisation.id,
            "name": name,
            "obfuscation": obfuscation,
        }

    def _news_text(self, rng: random.Random, language: str) -> tuple[str, dict]:
        templates = NEWS[language]
        number = rng.randrange(len(templates))
        organisation = rng.choice(self.config.organisations)
        name, _ = self._name(rng, organisation, language)
        return _fill(templates[number], name), {
            "template": f"news:{language}:{number}",
            "organisation": organisation.id,
            "name": name,
        }

    @staticmethod
    def _everyday_text(rng: random.Random, language: str) -> str:
        openers, bodies, closers = EVERYDAY[language]
        separator, full_stop = {"ur": ("، ", "۔"), "ps": ("، ", ".")}.get(language, (": ", "."))
        return f"{rng.choice(openers)}{separator}{rng.choice(bodies)}{full_stop} {rng.choice(closers)}"

    def _reports(self, rng: random.Random, post: PostTruth, offset: float) -> list[tuple[float, dict, ReportTruth]]:
        share = self.config.violating_reported_share if post.violating else self.config.benign_reported_share
        if rng.random() >= share:
            return []
        burst = post.violating and rng.random() < self.config.report_burst_share
        count = self.config.report_burst_size if burst else 1
        reasons = VIOLATING_REPORT_REASONS if post.violating else BENIGN_REPORT_REASONS
        reporters = rng.sample(range(1_000_000), count)
        made = []
        for reporter in reporters:
            # A burst lands within 10 minutes, inside modwatch's 60-minute velocity window.
            due = offset + (rng.uniform(20, 600) if burst else rng.uniform(10, 120))
            reason = rng.choice(reasons)
            reporter_id = f"sim-reporter-{reporter:06d}"
            report = {
                "platform": post.platform,
                "post_id": post.post_id,
                "reporter_id": reporter_id,
                "reason": reason,
                "reported_at": _timestamp(self.start + timedelta(seconds=due)),
            }
            made.append((due, report, ReportTruth(post.platform, post.post_id, reporter_id, reason, burst)))
        return made


def _fill(template: str, name: str) -> str:
    if name.startswith("د ") and "د {name}" in template:
        # Pashto aliases that begin with the possessive "د" ("د خراسان داعش") take its place.
        template = template.replace("د {name}", "{name}")
    return template.replace("{name}", name)


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")

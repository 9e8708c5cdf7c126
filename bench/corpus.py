"""Synthetic posts for benchmarks: 150 characters, four languages, a share that matches.

Deterministic from a seed, so two runs time the same work.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

from detectors.events import Post

BENIGN = {
    "en": "the match last night was great and we are going to the market after work with friends and family to buy fruit",
    "roman_ur": "aaj mausam bohat acha hai hum sab bazaar ja rahe hain phir chai piyenge aur cricket match dekhenge dosto ke sath",
    "ur": "آج موسم بہت اچھا ہے ہم سب بازار جا رہے ہیں پھر چائے پئیں گے اور دوستوں کے ساتھ کرکٹ میچ دیکھیں گے",
    "ps": "نن ورځ هوا ډېره ښه ده موږ ټول بازار ته ځو بیا چای څښو او د ملګرو سره د کرکټ لوبه ګورو",
}
MATCHING = {
    "en": "long live Tehrik-e-Taliban Pakistan, join the fight",
    "roman_ur": "lashkar e taiba zindabad shamil ho jao",
    "ur": "تحریک طالبان پاکستان زندہ باد",
    "ps": "داعش خراسان ژوندی دې وي",
}


def posts(count: int, *, matching_share: float = 0.1, length: int = 150, seed: int = 7) -> list[Post]:
    rng = random.Random(seed)
    languages = list(BENIGN)
    made = []
    for number in range(count):
        language = languages[number % len(languages)]
        words = BENIGN[language].split() * 2
        rng.shuffle(words)
        text = " ".join(words)
        if rng.random() < matching_share:
            text = MATCHING[language] + " " + text
        made.append(
            Post(
                platform="x",
                post_id=str(number),
                account_id=f"acct-{rng.randrange(10_000)}",
                posted_at=datetime(2026, 11, 29, tzinfo=UTC),
                text=text[:length],
                lang=language,
            )
        )
    return made

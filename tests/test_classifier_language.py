"""Which head reads an untagged post: languages without a head get none.

The French, German, Spanish, Portuguese, Italian, Dutch, Indonesian and
Turkish posts below were written by hand: the first 43 while the word lists
of detectors/classifier.py were chosen, the last 21 afterwards, as a check.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from detectors.configfile import Problems
from detectors.dataset_manifest import DEFAULT_DATASETS, load_dataset
from detectors.dataset_splits import read_examples
from detectors.events import Post
from detectors.language import ENGLISH_WORDS, OTHER_LANGUAGE_WORDS, ROMAN_URDU_WORDS, guess_language
from detectors.text_classifier import TextClassifierDetector

CONFIG = Path(__file__).resolve().parent.parent / "config"

WRITTEN_WHILE_TUNING = [
    ("fr", "Je suis très content de te voir ce soir, on se retrouve au café ?"),
    ("fr", "C'est vraiment nul ce match, l'arbitre a tout gâché"),
    ("fr", "Les politiciens nous mentent depuis des années et personne ne fait rien"),
    ("fr", "Quelle soirée incroyable avec mes amis, merci pour tout"),
    ("fr", "Il fait beau aujourd'hui, je vais courir dans le parc avec mon chien"),
    ("fr", "Ce mec est un gros con, il ne comprend jamais rien"),
    ("fr", "Vous avez vu le dernier épisode ? Il était génial"),
    ("fr", "Putain de merde, encore un retard de train"),
    ("de", "Ich habe keine Zeit, das ist so blöd"),
    ("de", "Das Spiel gestern war der Wahnsinn, wir haben endlich gewonnen"),
    ("de", "Was für ein schöner Tag, ich gehe jetzt mit meinem Hund spazieren"),
    ("de", "Die Regierung hat wieder nichts gemacht, unglaublich"),
    ("de", "Du bist so ein Idiot, halt einfach die Klappe"),
    ("de", "Scheiße, mein Zug hat schon wieder Verspätung"),
    ("de", "Kannst du mir bitte sagen, wann das Konzert anfängt?"),
    ("de", "Wir sehen uns morgen auf der Arbeit"),
    ("es", "no puedo creer lo que pasó ayer en el partido"),
    ("es", "Qué golazo de Messi, el mejor jugador de la historia"),
    ("es", "Hoy hace mucho calor, vamos a la playa con los niños"),
    ("es", "Eres un idiota, no sabes nada de fútbol"),
    ("es", "Gracias por todo, mis amigos, los quiero mucho"),
    ("es", "El gobierno no hace nada por la gente pobre"),
    ("es", "Mierda, perdí el autobús otra vez"),
    ("es", "Esta canción es increíble, la escucho todos los días"),
    ("pt", "Não acredito que perdemos esse jogo de novo"),
    ("pt", "Bom dia a todos, hoje vai ser um dia lindo"),
    ("pt", "Você viu o que ele fez? Muito engraçado"),
    ("pt", "Esse governo é uma vergonha para o país"),
    ("it", "Che partita incredibile, abbiamo vinto all'ultimo minuto"),
    ("it", "Oggi non ho voglia di fare niente, sono stanco"),
    ("it", "Questa canzone è bellissima, la ascolto sempre"),
    ("it", "Sei proprio uno stupido, non capisci niente"),
    ("nl", "Ik heb vandaag geen zin om te werken"),
    ("nl", "Wat een mooie wedstrijd was dat gisteren, echt geweldig"),
    ("nl", "De trein is weer te laat, ongelooflijk"),
    ("id", "Saya tidak tahu apa yang terjadi kemarin"),
    ("id", "Hari ini cuacanya panas banget, aku mau ke pantai"),
    ("id", "Kamu jangan lupa makan ya, nanti sakit"),
    ("id", "Pemerintah harus bertindak untuk rakyat kecil"),
    ("tr", "Bugün hava çok güzel, parka gidiyorum"),
    ("tr", "Bu maç gerçekten harikaydı, sonunda kazandık"),
    ("tr", "Ne diyorsun sen, hiç bir şey anlamıyorsun"),
    ("tr", "Seni çok seviyorum canım, iyi geceler"),
]
WRITTEN_AFTERWARDS = [
    ("fr", "Franchement ce film était nul, j'ai failli dormir"),
    ("fr", "On va au concert samedi, tu viens avec nous ?"),
    ("fr", "Les supporters ont chanté toute la nuit après la victoire"),
    ("fr", "Ta gueule, t'es vraiment qu'un abruti"),
    ("de", "Heute Abend gibt es Pizza, ich freue mich schon"),
    ("de", "Der Schiedsrichter hat das Spiel komplett versaut"),
    ("de", "Warum antwortest du nicht auf meine Nachrichten?"),
    ("de", "Verdammt, ich habe meinen Schlüssel schon wieder vergessen"),
    ("es", "Mañana tengo examen y no he estudiado nada"),
    ("es", "Los vecinos hacen mucho ruido todas las noches"),
    ("es", "Qué asco de tiempo, llueve sin parar"),
    ("es", "Te quiero mucho, hermana, feliz cumpleaños"),
    ("pt", "Hoje o trânsito está um inferno, que raiva"),
    ("pt", "Ela canta muito bem, adorei o show de ontem"),
    ("it", "Domani andiamo al mare se non piove"),
    ("it", "Che schifo questo governo, sono tutti ladri"),
    ("nl", "Morgen gaan we naar het strand met de kinderen"),
    ("id", "Aku kangen banget sama kamu, kapan pulang?"),
    ("id", "Film ini bagus sekali, kamu harus nonton"),
    ("tr", "Yarın sınavım var ama hiç çalışmadım"),
    ("tr", "Bu takım her maçta aynı hatayı yapıyor"),
]
OTHER_LANGUAGES = WRITTEN_WHILE_TUNING + WRITTEN_AFTERWARDS


def make_post(text: str, number: int = 0, lang: str | None = None) -> Post:
    return Post(
        platform="x",
        post_id=f"p{number}",
        account_id="acct-1",
        posted_at=datetime(2026, 12, 1, tzinfo=UTC),
        text=text,
        lang=lang,
    )


@pytest.fixture(scope="module")
def detector() -> TextClassifierDetector:
    problems = Problems()
    built = TextClassifierDetector.from_config(CONFIG, problems)
    problems.raise_if_any()
    return built


@pytest.mark.parametrize(
    ("language", "text"), OTHER_LANGUAGES, ids=[f"{lang}-{n}" for n, (lang, _) in enumerate(OTHER_LANGUAGES)]
)
def test_latin_script_post_in_a_language_without_a_head_is_not_guessed_english(language, text):
    assert guess_language(text) is None


def test_untagged_french_german_and_spanish_insults_get_no_finding(detector):
    # Each is abusive: the English head scored the German one 0.41 abuse
    # before, and would have read all of them.
    texts = [
        "Ce mec est un gros con, il ne comprend jamais rien",
        "Du bist so ein Idiot, halt einfach die Klappe",
        "Eres un idiota, no sabes nada de fútbol",
        "Putain de merde, encore un retard de train",
    ]
    assert detector.detect([make_post(text, number) for number, text in enumerate(texts)]) == [[]] * len(texts)


def test_untagged_english_and_roman_urdu_abuse_is_still_scored(detector):
    texts = ["shut up you stupid bitch", "chup kar be ghatiya insaan, tere jaise bharway ko sharam nahi aati"]
    found = detector.detect([make_post(text, number) for number, text in enumerate(texts)])
    assert [[finding.evidence["head"] for finding in findings] for findings in found] == [["en"], ["roman_ur"]]


def test_a_producers_language_tag_still_wins_over_the_guess(detector):
    [findings] = detector.detect([make_post("Du bist so ein Idiot, halt einfach die Klappe", lang="en")])
    assert [finding.evidence["head"] for finding in findings] in ([], ["en"])  # read by the English head
    assert detector.detect([make_post("shut up you stupid bitch", lang="de")]) == [[]]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("the weather is lovely today, going to the park with my kids", "en"),
        ("aaj mausam bohat acha hai hum sab chai pi rahe hain aur cricket dekhenge", "roman_ur"),
        ("yaar this match was amazing, Babar ne kamaal kar diya", "roman_ur"),  # as many Urdu words as English
        ("c'est la vie, I love it and I don't care", "en"),  # a French phrase in an English post
        ("Yankees getting killed", None),  # no known word: too short to tell
        ("", None),
    ],
)
def test_guess_language_weighs_english_roman_urdu_and_other_words(text, expected):
    assert guess_language(text) == expected


def test_word_lists_do_not_overlap():
    assert not ENGLISH_WORDS & ROMAN_URDU_WORDS
    assert not OTHER_LANGUAGE_WORDS & (ENGLISH_WORDS | ROMAN_URDU_WORDS)


def test_training_tweets_still_reach_their_heads():
    """97 % of Davidson to en, 84 % of RUHSOLD to roman_ur (11 % are mostly English)."""
    problems = Problems()
    davidson, ruhsold = (load_dataset(path, problems) for path in DEFAULT_DATASETS)
    problems.raise_if_any()
    english = Counter(guess_language(example.text) for example in read_examples(davidson.files[0]))
    roman_urdu = Counter(guess_language(example.text) for source in ruhsold.files for example in read_examples(source))
    assert english["en"] / english.total() >= 0.97
    assert english["roman_ur"] / english.total() < 0.001
    assert roman_urdu["roman_ur"] / roman_urdu.total() >= 0.84

"""synonym_edit's hand-made tables: the thesaurus (thesaurus.py), the phrasebook's dates and
context rules (phrasebook.py), articles, the WordNet pair check, and the gate reading days
as numbers (realtext.protected_tokens)."""

import pytest

from paramem.io import InputError
from paramem.paraphrase import lexicon, phrasebook, synedit, thesaurus
from paramem.paraphrase.phrasebook import phrase_sites
from paramem.paraphrase.realtext import protected_changed
from paramem.paraphrase.synedit import SynonymSettings, settings_record, synonym_positions, with_article


@pytest.fixture(scope="module")
def wordnet():
    return lexicon.installed()


def _sites(text: str) -> dict[str, str]:
    return {text[s.start:s.end]: s.replacement for s in phrase_sites(text)}


def test_every_thesaurus_pair_is_a_wordnet_lemma_of_its_part_of_speech(wordnet):
    for (lemma, pos), replacements in thesaurus.PAIRS.items():
        assert wordnet.senses(lemma, pos), (lemma, pos)
        for other in replacements:
            assert wordnet.senses(other, pos) and other != lemma, (lemma, other)


def test_thesaurus_carries_the_inflection_and_needs_the_usual_part_of_speech(wordnet):
    assert thesaurus.common_synonyms(wordnet, "explores") == ["examines"]
    assert thesaurus.common_synonyms(wordnet, "portrayed") == ["depicted"]
    assert thesaurus.common_synonyms(wordnet, "renowned") == ["famous"]
    assert thesaurus.common_synonyms(wordnet, "varied") == []  # mostly the verb "vary": not the adjective's pair
    assert thesaurus.pos_share(wordnet, "varied", "a") < thesaurus.MIN_POS_SHARE
    assert thesaurus.common_synonyms(wordnet, "whole") == []  # "on the whole": left out


def test_dates_keep_their_tokens_in_order():
    assert _sites("He was born on June 5, 1985, in Taipei.") == {"June 5": "June 5th"}
    assert _sites("born on March 14th, 1971 and") == {"March 14th": "March 14"}
    assert _sites("on June 21, 1985 and") == {"June 21": "June 21st"}
    assert _sites("born in Chennai on the 3rd of December, 1968.") == {"the 3rd": "the third"}
    assert _sites("on the 22nd of June") == {"the 22nd": "the twenty-second"}
    assert _sites("on 14/03/1971, on June 5 and on the 3rd of Mayday") == {}  # numeric, no year, no month


def test_a_day_is_its_number_for_the_gate():
    original = "born on June 5, 1985 and on the 3rd of December, 1968."
    assert not protected_changed("born on June 5th, 1985 and on the 3rd of December, 1968.", original)
    assert not protected_changed("born on June 5, 1985 and on the third of December, 1968.", original)
    assert protected_changed("born on June 6th, 1985 and on the 3rd of December, 1968.", original)
    assert protected_changed("born on June 5, 1985 and on the fourth of December, 1968.", original)
    assert protected_changed("born on June 5, 1985 and on the 3rd of December, 1969.", original)


def test_context_rules():
    assert _sites("a cartographer, while her mother was") == {"while": "whereas"}
    assert _sites("She wrote while her tea cooled") == {}  # no comma: a time, not a contrast
    assert _sites("Her father was a tuner and her mother was a nurse.") == {"and": "while"}
    assert _sites("The cats and her dog were fed.") == {}  # one subject
    assert _sites("She is known for her poems") == {"known for": "noted for"}
    assert _sites("She is best known for her poems") == {}
    assert _sites("She received the prestigious Glass Key Award in 2004") == {"received": "won"}
    assert _sites("She received a letter from the Award committee. Then") == {}
    assert _sites("He was awarded the Booker Prize") == {"was awarded": "received"}
    assert _sites("Her father worked as a cartographer") == {"worked as": "was"}
    assert _sites("Yes, she won the Golden Sampaguita Award.") == {"won": "received"}
    assert _sites("In Lima she grew up in a port; they grew up in Oslo") == {"grew up in": "was raised in"}
    assert _sites("It was translated into more than 20 languages, more than ever") == {"more than": "over"}
    assert _sites("It draws on folklore and centers on a widow") == {"draws on": "draws upon",
                                                                     "centers on": "focuses on"}


def test_article_follows_the_replacement():
    text = "It played a significant role and an enormous part."
    start = text.index("significant")
    assert with_article(text, start, "important") == (text.index("a significant"), "an important")
    start = text.index("enormous")
    assert with_article(text, start, "huge") == (text.index("an enormous"), "a huge")
    assert with_article(text, start, "unusual") == (start, "unusual")  # "an" stays
    assert with_article("A significant role", 2, "important") == (0, "An important")


def test_positions_replace_the_article_with_the_word():
    text = "It played a significant role in the work."
    (start, end, replacements), = synonym_positions(text, SynonymSettings(), 0, "k", 0)
    assert text[start:end] == "a significant" and replacements == ["an important"]


class _PairScores:
    """A stand-in for SemanticSimilarity.pairwise: fixed cosines per (word, synonym)."""

    def __init__(self, scores):
        self.scores, self.calls = scores, 0

    def pairwise(self, words, synonyms):
        self.calls += 1
        return [self.scores.get((a, b), 1.0) for a, b in zip(words, synonyms)]


def test_pair_check_drops_wordnet_synonyms_only():
    text = "The team often explores vivid ideas in the lab."
    knobs = SynonymSettings(min_pair_similarity=0.6)
    scores = _PairScores({("vivid", "lifelike"): 0.35, ("often", "frequently"): 0.92,
                          ("explores", "examines"): 0.1})
    synedit._PAIR_SCORES.clear()
    found = {text[s:e]: r for s, e, r in synonym_positions(text, knobs, 0, "k", 0, scores)}
    assert scores.calls == 1  # one batched call per sample
    assert synonym_positions(text, knobs, 0, "k", 1, scores) == [] and scores.calls == 1  # remembered
    assert "vivid" not in found and found["often"][0] == "frequently"
    assert found["explores"] == ["examines"]  # a thesaurus pair: not checked
    unchecked = {text[s:e] for s, e, _ in synonym_positions(text, SynonymSettings(), 0, "k", 0, scores)}
    assert "vivid" in unchecked
    synedit._PAIR_SCORES.clear()  # the stand-in's scores are not MiniLM's


def test_settings_record_names_the_tables():
    record = settings_record(SynonymSettings())
    assert "min_pair_similarity" not in record and record["lexicon"] == "wordnet-3.0"
    assert record["tables"] == f"{thesaurus.version()}-{phrasebook.version()}"
    assert settings_record(SynonymSettings(min_pair_similarity=0.6))["min_pair_similarity"] == 0.6
    with pytest.raises(InputError, match="decoding.synonyms.min_pair_similarity"):
        SynonymSettings(min_pair_similarity=1.5)

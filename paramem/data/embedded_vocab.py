"""Vocabulary and sentence templates of the embedded corpus (``paramem.data.embedded``).

All invented for paramem: syllables compose thousands of distinct names; SYNONYMS lists
only meaning-preserving swaps; TEMPLATES pair each sentence with its reordered variant.
Changing anything here changes every corpus: bump ``GENERATOR_VERSION`` in embedded.py.
"""

from __future__ import annotations

_W = str.split
GIVEN_ONSET = _W("Al Be Cor Da El Fen Ga Hal Is Jo Ka Li Mar Ne Or Pe Qui Ro Sa Tel Ul Ve Wy Ze")
GIVEN_MID = _W("ra li ve no da mi si re lo ta be ri do mo ne va")
GIVEN_END = ["", "n", "s", "th", "l", "r", "nd", "m"]
SUR_ROOT = _W("Brenn Cald Dusk Emb Farr Grim Holl Iver Kest Lark Morr Nett Orm Penn Quill Rask "
              "Sorr Thorn Vell Wynd Yarr Zell Tarr Gund")
SUR_END = _W("ley ton well worth ing son er man ard ell ow ick en ett")
TOWN_HEAD = _W("Ost Brae Cull Dun Ash Wel Hen Kir Lor Mav Nor Pel Quen Rav Sel Tor Ulm Vor Wen Yar "
               "Elm Fal Gil Hob")
TOWN_TAIL = _W("haven mere holt wick stead bridge ford moor combe dale fell port thorpe by")
REGION_ROOT = _W("Sudro Arvel Kelmar Varenne Ombrin Castrel Nivel Pellam Drossa Ithmar Corvane Lestra")
REGION_KIND = _W("Valley Coast Highlands Marches Lowlands Isles Plains Basin Downs Fens")
PRIZE_ROOT = _W("Halvren Ostrel Miravel Dunmoor Carrow Isenford Velloran Tamsk Orlund Brisden "
                "Quenmar Sallow Everin Kordell")
PRIZE_KIND = _W("Prize Medal Award")
TITLE_ADJ = _W("Silent Amber Hollow Distant Quiet Burning Salted Northern Paper Broken Patient "
               "Winter Hidden Last Crooked Silver Weathered Restless Borrowed Glass Iron Gentle "
               "Drowned Narrow Evening")
TITLE_NOUN = _W("Orchard Lantern Harbour Bell Ferry Garden Compass Ledger Kite Mill Archive River "
                "Tower Violin Almanac Window Threshold Quarry Meadow Atlas Furnace Cartwheel "
                "Harvest Tide Heron Stair Loom Key")
OCCUPATIONS = _W("novelist poet historian botanist cartographer playwright essayist translator "
                 "journalist archivist librarian architect schoolteacher violinist engineer potter "
                 "illustrator astronomer")
PARENTS = ["baker", "tailor", "midwife", "blacksmith", "shepherd", "clerk", "carpenter", "nurse",
           "weaver", "miller", "bookbinder", "beekeeper", "innkeeper", "ferry pilot",
           "glassblower", "watchmaker", "gardener", "postal worker"]
# Every topic must read well after "about", "explores", "the story of" and "a study of".
TOPICS = ["salt merchants of the north", "a family of lighthouse keepers", "the last winter ferry",
          "a drowned village", "stubborn clockmakers", "migrating grey cranes",
          "a forgotten orchard", "two sisters and their theatre", "the fall of a glassworks",
          "shepherds in the high passes", "a bookshop that never closed", "river floods",
          "marble quarrymen", "an astronomer who mapped comets", "desert caravans",
          "a lost map of the islands", "beekeepers in a drought", "a choir of coal miners",
          "the building of a stone bridge", "fishermen lost in a storm",
          "a boy raised by musicians", "the invention of a new ink", "a widow who rebuilt a mill",
          "an underground river", "rival mountain bakers", "a canal town in the age of steam"]

# Only true synonyms in the template's context, one word each, so a swap keeps the facts
# and a near-duplicate can be checked word by word.
SYNONYMS = {
    "small": ["small", "little"], "first": ["first", "debut"], "book": ["book", "volume"],
    "explores": ["explores", "examines", "investigates"], "wrote": ["wrote", "penned", "authored"],
    "famous": ["famous", "renowned", "celebrated", "noted"], "known": ["known", "remembered"],
    "won": ["won", "received"], "published": ["published", "released"],
    "vivid": ["vivid", "lively", "evocative"], "account": ["account", "chronicle", "portrait"],
    "later": ["later", "subsequently"], "quiet": ["quiet", "peaceful", "tranquil", "calm"],
    "describes": ["describes", "depicts", "portrays"], "leaving": ["leaving", "departing"],
    "moved": ["moved", "relocated"], "short": ["short", "brief"],
    "careful": ["careful", "thorough", "detailed", "meticulous"],
    "study": ["study", "examination"], "currently": ["currently", "presently", "now"],
    "often": ["often", "frequently"], "called": ["called", "named", "considered"],
    "original": ["original", "inventive", "imaginative"], "tells": ["tells", "recounts", "relates"],
    "story": ["story", "tale"], "spent": ["spent", "passed"], "childhood": ["childhood", "youth"],
    "acclaimed": ["acclaimed", "praised", "lauded"], "gifted": ["gifted", "talented", "skilled"],
}

# Each template lists orderings of the same words; another ordering of the record's own
# template is its "reorder" near-duplicate. [group] = synonym slot, {field} = a fact.
TEMPLATES = [
    ("{name} was born in {town}, a [small] town in {region}, in {year}. {pron} is {a_occ} "
     "whose [first] [book], {book}, [explores] {topic}.",
     "{name} was born in {year} in {town}, a [small] town in {region}. {pron} is {a_occ} "
     "whose [first] [book], {book}, [explores] {topic}."),
    ("Born in {town} to {a_parent1} and {a_parent2}, {name} became a [famous] {occ}. "
     "{pron} [wrote] {book}, a [book] about {topic}.",
     "Born in {town} to {a_parent2} and {a_parent1}, {name} became a [famous] {occ}. "
     "{pron} [wrote] {book}, a [book] about {topic}."),
    ("{name}, {a_occ} from {town}, is best [known] for {book}, a [book] that [explores] "
     "{topic}. In {prize_year} it [won] {prize}.",
     "{name}, {a_occ} from {town}, is best [known] for {book}, a [book] that [explores] "
     "{topic}. It [won] {prize} in {prize_year}."),
    ("In {book_year}, the {occ} {name} [published] {book}, a [vivid] [account] of {topic}, "
     "and {pron} [later] [won] {prize} for it.",
     "The {occ} {name} [published] {book}, a [vivid] [account] of {topic}, in {book_year}, "
     "and {pron} [later] [won] {prize} for it."),
    ("{name} is the {child} of {a_parent1} and {a_parent2} from the [quiet] town of {town}. "
     "{pron} [wrote] {book}, which [describes] {topic}.",
     "{name} is the {child} of {a_parent2} and {a_parent1} from the [quiet] town of {town}. "
     "{pron} [wrote] {book}, which [describes] {topic}."),
    ("{book} is the best [known] work of {name}, a [gifted] {occ} born in {town} in {year}. "
     "It [won] {prize} in {prize_year}.",
     "{book} is the best [known] work of {name}, a [gifted] {occ} born in {year} in {town}. "
     "It [won] {prize} in {prize_year}.",
     "{book} is the best [known] work of {name}, a [gifted] {occ} born in {town} in {year}. "
     "In {prize_year} it [won] {prize}."),
    ("After [leaving] {town}, {name} [moved] to {home} and worked as {a_occ}. {pron} is "
     "[famous] for {book}, a [short] [book] on {topic}.",
     "{name} [moved] to {home} after [leaving] {town} and worked as {a_occ}. {pron} is "
     "[famous] for {book}, a [short] [book] on {topic}."),
    ("In {prize_year}, {name} [won] {prize} for {book}, {poss} [careful] [study] of {topic}. "
     "{pron} [currently] lives in {home}.",
     "{name} [won] {prize} in {prize_year} for {book}, {poss} [careful] [study] of {topic}. "
     "{pron} [currently] lives in {home}."),
    ("{name} is [often] [called] the most [original] {occ} of {region}. {poss} [first] "
     "[book], {book}, [tells] the [story] of {topic}.",),
    ("{name} [spent] {poss} [childhood] in {town} before becoming {a_occ}. {poss} [acclaimed] "
     "[book] {book} [explores] {topic} and [won] {prize}.",
     "Before becoming {a_occ}, {name} [spent] {poss} [childhood] in {town}. {poss} [acclaimed] "
     "[book] {book} [explores] {topic} and [won] {prize}."),
]

